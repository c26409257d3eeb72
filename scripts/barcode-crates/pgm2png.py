# pgm2png.py in.pgm out.png [scale]  -- viewing helper (stdlib only)
import sys, zlib, struct
d = open(sys.argv[1], 'rb').read()
parts = d.split(b'\n', 3); w, h = map(int, parts[1].split()); px = parts[3]
s = int(sys.argv[3]) if len(sys.argv) > 3 else 4
x0, y0, cw, ch = (map(int, sys.argv[4].split(',')) if len(sys.argv) > 4 else (0, 0, w, h))
rows = []
for y in range(y0, min(y0 + ch, h), s):
    row = px[y * w + x0: y * w + min(x0 + cw, w): s]
    rows.append(b'\x00' + row)
ow = len(rows[0]) - 1
def chunk(t, b): c = struct.pack('>I', len(b)) + t + b; return c + struct.pack('>I', zlib.crc32(t + b) & 0xffffffff)
png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', ow, len(rows), 8, 0, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(b''.join(rows))) + chunk(b'IEND', b'')
open(sys.argv[2], 'wb').write(png)
