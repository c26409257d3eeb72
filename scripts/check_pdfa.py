#!/usr/bin/python3
"""Independent PDF/A-2u / PDF/A-3u checks for mailroom's PDFs.

Reads each file with pikepdf (qpdf), fontTools and Pillow's ImageCms (Little CMS), all
from Debian (scripts/setup.sh installs them), and checks the clauses of ISO 19005-2/-3
that apply to what mailroom writes. It is no full validator: it checks what our writer
could get wrong, and refuses what it does not know (for example simple fonts or
annotations, which mailroom never writes) instead of passing it.

Prints one line per failed clause and exits 1 when any check fails (2 on a usage or
setup error); prints one OK line per file that passes.

Usage: /usr/bin/python3 scripts/check_pdfa.py [--expect-attachment NAME]... FILE.pdf...
"""

import argparse
import datetime as dt
import decimal
import io
import re
import sys
import xml.etree.ElementTree as ET

SETUP = "scripts/setup.sh installs it; run this script with /usr/bin/python3"
try:
    import pikepdf
    from pikepdf import Array, Dictionary, Name, Stream, String
except ImportError:
    sys.exit(f"check_pdfa: pikepdf missing (python3-pikepdf; {SETUP})")
try:
    from fontTools.ttLib import TTFont
except ImportError:
    sys.exit(f"check_pdfa: fontTools missing (python3-fonttools; {SETUP})")
try:
    from PIL import Image, ImageCms
except ImportError:
    sys.exit(f"check_pdfa: Pillow with ImageCms missing (python3-pil; {SETUP})")

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML_NS = "http://www.w3.org/XML/1998/namespace"
NS = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
    "pdfaExtension": "http://www.aiim.org/pdfa/ns/extension/",
    "pdfaSchema": "http://www.aiim.org/pdfa/ns/schema#",
    "pdfaProperty": "http://www.aiim.org/pdfa/ns/property#",
    "pdfaType": "http://www.aiim.org/pdfa/ns/type#",
    "pdfaField": "http://www.aiim.org/pdfa/ns/field#",
}
# Properties of the predefined schemas (XMP Specification 2005) that we know; a property
# of these namespaces outside the list, or of any other namespace, needs an extension
# schema description (ISO 19005-2 6.6.2.3).
PREDEFINED = {
    NS["dc"]: set("contributor coverage creator date description format identifier language "
                  "publisher relation rights source subject title type".split()),
    NS["xmp"]: set("Advisory BaseURL CreateDate CreatorTool Identifier Label MetadataDate "
                   "ModifyDate Nickname Rating Thumbnails".split()),
    NS["pdf"]: set("Keywords PDFVersion Producer Trapped".split()),
    NS["pdfaid"]: set("part conformance amd corr".split()),
    NS["xmpMM"]: set("DerivedFrom DocumentID History Ingredients InstanceID ManagedFrom Manager "
                     "ManageTo ManageUI ManagerVariant OriginalDocumentID RenditionClass "
                     "RenditionParams VersionID Versions LastURL RenditionOf SaveID".split()),
    NS["xmpRights"]: set("Certificate Marked Owner UsageTerms WebStatement".split()),
}
EXTENSION_NS = {NS[k] for k in ("pdfaExtension", "pdfaSchema", "pdfaProperty", "pdfaType",
                                "pdfaField")}
# Info dictionary key -> XMP property (ISO 19005-2 6.6.3, table 3)
INFO_XMP = {
    "/Title": (NS["dc"], "title"),
    "/Author": (NS["dc"], "creator"),
    "/Subject": (NS["dc"], "description"),
    "/Keywords": (NS["pdf"], "Keywords"),
    "/Creator": (NS["xmp"], "CreatorTool"),
    "/Producer": (NS["pdf"], "Producer"),
    "/CreationDate": (NS["xmp"], "CreateDate"),
    "/ModDate": (NS["xmp"], "ModifyDate"),
}
STREAM_FILTERS = {"/FlateDecode", "/DCTDecode", "/CCITTFaxDecode"}
ACTION_KEYS = {"/AA", "/OpenAction", "/JS", "/JavaScript", "/A", "/Next"}
RELATIONSHIPS = {"/Source", "/Data", "/Alternative", "/Supplement", "/Unspecified"}
MAX_INT = 2**31 - 1
# The content stream operators of ISO 32000-1, Annex A (6.2.2: no others, not even in BX/EX)
OPERATORS = set("""b B b* B* BDC BI BMC BT BX c cm CS cs d d0 d1 Do DP EI EMC ET EX f F f* G g gs
h i ID j J K k l m M MP n q Q re RG rg ri s S SC sc SCN scn sh T* Tc Td TD Tf Tj TJ TL Tm Tr
Ts Tw Tz v w W W* y ' \"""".split())


class Report:
    """Failures of one file, one entry per clause (further findings are counted)."""

    def __init__(self, path):
        self.path = path
        self.failures = {}  # clause -> [first message, count]

    def fail(self, clause, message):
        entry = self.failures.setdefault(clause, [message, 0])
        entry[1] += 1

    def check(self, ok, clause, message):
        if not ok:
            self.fail(clause, message)
        return ok

    def lines(self):
        out = []
        for clause, (message, count) in self.failures.items():
            more = f" (and {count - 1} more)" if count > 1 else ""
            out.append(f"FAIL {self.path}: {clause}: {message}{more}")
        return out


def name_of(obj):
    return str(obj) if isinstance(obj, Name) else None


def text_of(obj):
    """A PDF text string as Python text (PDFDocEncoding or UTF-16BE with BOM)."""
    if obj is None:
        return None
    return str(obj)


def filters_of(stream):
    f = stream.get("/Filter")
    if f is None:
        return []
    if isinstance(f, Array):
        return [str(x) for x in f]
    return [str(f)]


# ---------------------------------------------------------------------------------------
# File structure, from the bytes (ISO 19005-2 6.1.2 - 6.1.9)


def check_bytes(data, rep):
    m = re.match(rb"%PDF-1\.([0-7])(\r\n|\r|\n)", data)
    if rep.check(m is not None, "6.1.2 file header", "the file does not start with %PDF-1.0 .. %PDF-1.7"):
        rest = data[m.end():]
        b = re.match(rb"%([^\r\n]{4,})(\r\n|\r|\n)", rest)
        rep.check(b is not None and all(x >= 128 for x in b.group(1)[:4]),
                  "6.1.2 file header", "the second line is not a comment with four bytes >= 128")
    tail = data.rstrip(b"\r\n")
    rep.check(tail.endswith(b"%%EOF") and len(data) - len(tail) <= 2 and
              data[len(tail):] in (b"", b"\n", b"\r", b"\r\n"),
              "6.1.3 file trailer", "data after the last %%EOF (beyond one end-of-line)")
    m = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", data)
    if not rep.check(m is not None, "6.1.3 file trailer", "no startxref before %%EOF"):
        return
    xref = int(m.group(1))
    if data[xref:xref + 4] != b"xref":
        # a cross-reference stream: offsets are compressed, framing checked by qpdf only
        return
    m = re.match(rb"xref(\r\n|\r|\n)", data[xref:])
    rep.check(m is not None, "6.1.4 cross-reference table",
              "xref keyword not followed by a single end-of-line")
    pos = xref + (m.end() if m else 5)
    offsets = []
    while True:
        sub = re.match(rb"(\d+) (\d+)(\r\n|\r|\n)", data[pos:])
        if not sub:
            break
        first, count = int(sub.group(1)), int(sub.group(2))
        pos += sub.end()
        for i in range(count):
            entry = data[pos:pos + 20]
            if not rep.check(re.fullmatch(rb"\d{10} \d{5} [nf](\r\n| \n| \r)", entry) is not None,
                             "6.1.4 cross-reference table", f"entry {first + i} is not 20 bytes"):
                return
            if entry[17:18] == b"n":
                offsets.append((first + i, int(entry[:10]), int(entry[11:16])))
            pos += 20
    rep.check(data[pos:pos + 7] == b"trailer", "6.1.4 cross-reference table",
              "the table is not followed by the trailer")
    return offsets


def check_objects_framing(data, offsets, pdf, rep):
    """Indirect objects and streams as ISO 19005-2 6.1.7.1 and 6.1.9 want them."""
    for num, off, gen in offsets or []:
        head = re.match(rb"(\d+) (\d+) obj", data[off:off + 32])
        if not rep.check(head is not None and int(head.group(1)) == num and int(head.group(2)) == gen,
                         "6.1.9 indirect objects", f"object {num} not found as '{num} {gen} obj' at its offset"):
            continue
        rep.check(off == 0 or data[off - 1:off] in (b"\n", b"\r"), "6.1.9 indirect objects",
                  f"object {num}: 'obj' line not preceded by an end-of-line")
        obj = pdf.get_object((num, gen))
        if not isinstance(obj, Stream):
            continue
        length = int(obj.get("/Length"))
        # the stream keyword follows the dictionary; search from the object header
        m = re.compile(rb">>\s*stream(\r\n|\n|\r)").search(data, off)
        if not rep.check(m is not None and m.group(1) in (b"\r\n", b"\n"), "6.1.7.1 stream keyword",
                         f"object {num}: 'stream' not followed by CR LF or LF"):
            continue
        start = m.end()
        end = re.match(rb"(\r\n|\n|\r)endstream", data[start + length:start + length + 12])
        rep.check(end is not None, "6.1.7.1 stream length",
                  f"object {num}: /Length {length} does not end before an end-of-line and 'endstream'")
        for key in ("/F", "/FFilter", "/FDecodeParms"):
            rep.check(key not in obj, "6.1.7.1 stream dictionary", f"object {num} has {key}")


# ---------------------------------------------------------------------------------------
# Objects


def walk(obj, seen, visit, depth=0):
    """Visits every direct and indirect object reachable from obj once."""
    if depth > 200:
        return
    if isinstance(obj, (Dictionary, Stream, Array)) and obj.is_indirect:
        key = obj.objgen
        if key in seen:
            return
        seen.add(key)
    visit(obj)
    if isinstance(obj, (Dictionary, Stream)):
        for k in obj.keys():
            walk(obj.get(k), seen, visit, depth + 1)
    elif isinstance(obj, Array):
        for x in obj:
            walk(x, seen, visit, depth + 1)


def check_limits_and_actions(pdf, rep, counts):
    def visit(o):
        if isinstance(o, (Dictionary, Stream)):
            for k in o.keys():
                if k in ACTION_KEYS:
                    rep.fail("6.5 actions and JavaScript", f"{k} present (mailroom writes no actions)")
                if len(k) - 1 > 127:
                    rep.fail("6.1.13 implementation limits", "a name longer than 127 bytes")
            if o.get("/Type") == Name.Action or "/S" in o and o.get("/Type") is None and \
                    name_of(o.get("/S")) in ("/JavaScript", "/Launch", "/URI", "/GoToR"):
                rep.fail("6.5 actions and JavaScript", "an action dictionary")
            if o.get("/Type") == Name("/Annot") or "/Annots" in o:
                rep.fail("6.3 annotations", "annotations present (mailroom writes none; not checked here)")
            if "/AcroForm" in o or "/NeedsRendering" in o:
                rep.fail("6.4 interactive forms", "AcroForm or NeedsRendering present")
            if isinstance(o, Stream) and (o.get("/Subtype") == Name("/PS") or "/PS" in o):
                rep.fail("6.2.9 PostScript XObjects", "PostScript present")
        elif isinstance(o, String):
            if len(bytes(o)) > 32767:
                rep.fail("6.1.13 implementation limits", "a string longer than 32767 bytes")
        elif isinstance(o, int) and not isinstance(o, bool):
            if abs(o) > MAX_INT:
                rep.fail("6.1.13 implementation limits", f"integer {o} out of range")
        elif isinstance(o, (float, decimal.Decimal)):
            if abs(o) > 3.403e38 or (o != 0 and abs(o) < 1.175e-38):
                rep.fail("6.1.13 implementation limits", f"real {o} out of range")
        counts["objects"] += 1

    seen = set()
    walk(pdf.trailer, seen, visit)
    names = pdf.Root.get("/Names")
    if names is not None and "/JavaScript" in names:
        rep.fail("6.5 actions and JavaScript", "document-level JavaScript name tree")


def check_streams(pdf, rep, counts, oi_space):
    for obj in pdf.objects:
        if not isinstance(obj, Stream):
            continue
        filters = filters_of(obj)
        bad = [f for f in filters if f not in STREAM_FILTERS]
        rep.check(not bad, "6.1.7.2 stream filters",
                  f"object {obj.objgen[0]} uses {', '.join(bad)} (allowed: Flate, DCT, CCITTFax)")
        if obj.get("/Subtype") == Name.Image:
            counts["images"] += 1
            check_image(obj, rep, oi_space)
        if obj.get("/Subtype") == Name.Form and "/Group" in obj:
            group = obj.Group
            rep.check(group.get("/S") != Name("/Transparency"), "6.2.10 transparency",
                      f"form XObject {obj.objgen[0]} has a transparency group")
        if obj.get("/Type") == Name("/EmbeddedFile"):
            counts["embedded_streams"] += 1


def check_image(img, rep, oi_space):
    num = img.objgen[0]
    rep.check(set(filters_of(img)) <= STREAM_FILTERS, "6.2.8 images",
              f"image {num} has filter {filters_of(img)}")
    rep.check(img.get("/Interpolate") is not True, "6.2.8 images", f"image {num}: /Interpolate true")
    for key in ("/Alternates", "/OPI"):
        rep.check(key not in img, "6.2.8 images", f"image {num} has {key}")
    rep.check("/SMask" not in img and "/SMaskInData" not in img, "6.2.10 transparency",
              f"image {num} has a soft mask")
    bpc = img.get("/BitsPerComponent")
    rep.check(bpc is None or int(bpc) in (1, 2, 4, 8, 16), "6.2.8 images",
              f"image {num}: BitsPerComponent {bpc}")
    cs = img.get("/ColorSpace")
    if img.get("/ImageMask") is True:
        return
    if not rep.check(name_of(cs) in ("/DeviceGray", "/DeviceRGB"), "6.2.4.3 device colour spaces",
                     f"image {num}: colour space {cs} (mailroom writes DeviceGray and DeviceRGB only)"):
        return
    rep.check(oi_space is not None, "6.2.4.3 device colour spaces",
              f"image {num}: {cs} without a PDF/A output intent")
    rep.check(cs != Name.DeviceRGB or oi_space == b"RGB ", "6.2.4.3 device colour spaces",
              f"image {num}: DeviceRGB without an RGB output intent")


# ---------------------------------------------------------------------------------------
# Output intent and ICC profile (6.2.3)


def check_output_intent(pdf, rep):
    intents = pdf.Root.get("/OutputIntents")
    if not rep.check(isinstance(intents, Array) and len(intents) > 0, "6.2.3 output intent",
                     "the catalog has no /OutputIntents"):
        return None
    pdfa = [oi for oi in intents if oi.get("/S") == Name("/GTS_PDFA1")]
    if not rep.check(len(pdfa) >= 1, "6.2.3 output intent", "no output intent with /S /GTS_PDFA1"):
        return None
    profiles = {oi.DestOutputProfile.objgen for oi in intents if "/DestOutputProfile" in oi}
    rep.check(len(profiles) == 1, "6.2.3 output intent",
              "output intents do not share one DestOutputProfile")
    oi = pdfa[0]
    rep.check(isinstance(oi.get("/OutputConditionIdentifier"), String), "6.2.3 output intent",
              "no /OutputConditionIdentifier")
    prof = oi.get("/DestOutputProfile")
    if not rep.check(isinstance(prof, Stream), "6.2.3 output intent", "no /DestOutputProfile stream"):
        return None
    n = prof.get("/N")
    rep.check(n == 3, "6.2.3 output intent", f"/DestOutputProfile has /N {n}, not 3")
    icc = prof.read_bytes()
    ok = rep.check(len(icc) >= 132 and int.from_bytes(icc[:4], "big") == len(icc),
                   "6.2.3 ICC profile", "profile size field does not match its length")
    ok = ok and rep.check(icc[36:40] == b"acsp", "6.2.3 ICC profile", "no 'acsp' signature")
    if not ok:
        return None
    rep.check(icc[12:16] in (b"mntr", b"prtr"), "6.2.3 ICC profile",
              f"device class {icc[12:16]!r} (must be mntr or prtr)")
    rep.check(icc[16:20] == b"RGB ", "6.2.3 ICC profile", f"colour space {icc[16:20]!r}, not RGB")
    rep.check(2 <= icc[8] <= 4, "6.2.3 ICC profile", f"profile version {icc[8]}")
    try:
        ours = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        srgb = ImageCms.createProfile("sRGB")
        t = ImageCms.buildTransform(ours, srgb, "RGB", "RGB",
                                    renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
        probe = Image.new("RGB", (6, 1))
        colours = [(0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255),
                   (128, 90, 200)]
        probe.putdata(colours)
        out = list(ImageCms.applyTransform(probe, t).getdata())
        worst = max(abs(a - b) for c, d in zip(colours, out) for a, b in zip(c, d))
        rep.check(worst <= 2, "6.2.3 ICC profile",
                  f"Little CMS maps colours through the profile {worst} levels away from its sRGB")
    except Exception as e:  # noqa: BLE001 - any parse error is the finding
        rep.fail("6.2.3 ICC profile", f"Little CMS cannot use the profile: {e}")
    return icc


# ---------------------------------------------------------------------------------------
# Fonts (6.2.11) and text showing


class CMap:
    """A ToUnicode CMap: code (int) -> text, from bfchar and bfrange."""

    def __init__(self, data):
        self.single = {}
        self.ranges = []
        text = data.decode("latin-1")
        for block in re.findall(r"beginbfchar(.*?)endbfchar", text, re.S):
            for src, dst in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]*)>", block):
                self.single[int(src, 16)] = utf16(dst)
        for block in re.findall(r"beginbfrange(.*?)endbfrange", text, re.S):
            for lo, hi, dst in re.findall(
                    r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*(<[0-9A-Fa-f]*>|\[[^\]]*\])", block):
                if dst.startswith("["):
                    items = [utf16(x) for x in re.findall(r"<([0-9A-Fa-f]*)>", dst)]
                    self.ranges.append((int(lo, 16), int(hi, 16), items))
                else:
                    self.ranges.append((int(lo, 16), int(hi, 16), dst.strip("<>")))

    def lookup(self, code):
        if code in self.single:
            return self.single[code]
        for lo, hi, dst in self.ranges:
            if lo <= code <= hi:
                if isinstance(dst, list):
                    return dst[code - lo] if code - lo < len(dst) else None
                base = bytes.fromhex(dst)
                value = int.from_bytes(base, "big") + code - lo
                return utf16(value.to_bytes(len(base), "big").hex())
        return None


def utf16(hexstr):
    try:
        return bytes.fromhex(hexstr).decode("utf-16-be")
    except (ValueError, UnicodeDecodeError):
        return None


class FontInfo:
    """What the text checks need of one Type0 font: code -> (gid, PDF width), the font
    program's widths, and the ToUnicode map."""

    def __init__(self, font, rep):
        self.ok = False
        self.rep = rep
        sub = font.get("/Subtype")
        if sub != Name.Type0:
            rep.fail("6.2.11 fonts", f"{sub} font {font.get('/BaseFont')}: this checker covers "
                     "Type0/CIDFontType2 fonts only (mailroom writes no others)")
            return
        self.name = str(font.get("/BaseFont"))
        enc = font.get("/Encoding")
        rep.check(enc in (Name("/Identity-H"), Name("/Identity-V")), "6.2.11.3.1 CMaps",
                  f"{self.name}: encoding {enc} (only Identity-H/V are checked here)")
        tu = font.get("/ToUnicode")
        self.tounicode = CMap(tu.read_bytes()) if isinstance(tu, Stream) else None
        rep.check(self.tounicode is not None, "6.2.11.7.2 ToUnicode (level U)",
                  f"{self.name} has no ToUnicode CMap")
        cid = font.DescendantFonts[0]
        rep.check(cid.get("/Subtype") == Name("/CIDFontType2"), "6.2.11 fonts",
                  f"{self.name}: descendant is {cid.get('/Subtype')}, not CIDFontType2")
        csi = cid.get("/CIDSystemInfo")
        rep.check(isinstance(csi, Dictionary) and {"/Registry", "/Ordering", "/Supplement"} <= set(csi.keys()),
                  "6.2.11.3.1 CIDSystemInfo", f"{self.name}: incomplete CIDSystemInfo")
        m = cid.get("/CIDToGIDMap")
        if not rep.check(m is not None, "6.2.11.3.2 CIDToGIDMap", f"{self.name}: no CIDToGIDMap"):
            return
        self.map = None if m == Name.Identity else m.read_bytes()
        desc = cid.get("/FontDescriptor")
        if not rep.check(desc is not None and "/FontFile2" in desc, "6.2.11.4.1 embedded fonts",
                         f"{self.name}: font program not embedded as FontFile2"):
            return
        rep.check(str(desc.get("/FontName")) == self.name, "6.2.11 fonts",
                  f"{self.name}: FontDescriptor /FontName differs from /BaseFont")
        try:
            tt = TTFont(io.BytesIO(desc.FontFile2.read_bytes()))
            self.upem = tt["head"].unitsPerEm
            self.glyphs = tt["maxp"].numGlyphs
            order = tt.getGlyphOrder()
            hmtx = tt["hmtx"].metrics
            self.advance = [hmtx[order[g]][0] for g in range(self.glyphs)]
        except Exception as e:  # noqa: BLE001
            rep.fail("6.2.11.4.1 embedded fonts", f"{self.name}: fontTools cannot read the font: {e}")
            return
        self.dw = float(cid.get("/DW", 1000))
        self.widths = {}
        w = cid.get("/W")
        if w is not None:
            items = list(w)
            i = 0
            while i < len(items):
                first = int(items[i])
                if isinstance(items[i + 1], Array):
                    for k, v in enumerate(items[i + 1]):
                        self.widths[first + k] = float(v)
                    i += 2
                else:
                    for c in range(first, int(items[i + 1]) + 1):
                        self.widths[c] = float(items[i + 2])
                    i += 3
        self.ok = True
        self.checked_codes = {}

    def check_code(self, code):
        """The clauses for one shown character code (cached per code)."""
        if code in self.checked_codes:
            return
        self.checked_codes[code] = True
        rep = self.rep
        cid = code  # Identity-H
        if self.map is None:
            gid = cid
        else:
            gid = int.from_bytes(self.map[2 * cid:2 * cid + 2], "big") if 2 * cid + 2 <= len(self.map) else 0
        rep.check(gid != 0, "6.2.11.8 .notdef", f"{self.name}: code {code:04X} shows .notdef")
        if not rep.check(gid < self.glyphs, "6.2.11.4.1 embedded fonts",
                         f"{self.name}: code {code:04X} maps to glyph {gid}, missing from the font"):
            return
        pdf_w = self.widths.get(cid, self.dw)
        font_w = self.advance[gid] * 1000.0 / self.upem
        rep.check(abs(pdf_w - font_w) <= 1.0, "6.2.11.5 font widths",
                  f"{self.name}: code {code:04X} is {pdf_w:g} wide in the PDF, {font_w:g} in the font")
        if self.tounicode is not None:
            u = self.tounicode.lookup(code)
            rep.check(u is not None and u != "" and not any(ch in "\x00\ufeff\ufffe" for ch in u),
                      "6.2.11.7.2 ToUnicode (level U)",
                      f"{self.name}: code {code:04X} has no usable Unicode value ({u!r})")


def check_fonts_and_text(pdf, rep, counts):
    fonts = {}

    def font_info(font):
        key = font.objgen
        if key not in fonts:
            fonts[key] = FontInfo(font, rep)
            counts["fonts"] += 1
        return fonts[key]

    def run(content_owner, resources, depth=0):
        if depth > 10:
            return
        res = resources if resources is not None else Dictionary()
        font_res = res.get("/Font", Dictionary())
        xobjects = res.get("/XObject", Dictionary())
        for name in font_res.keys():
            font_info(font_res[name])
        for _, gs in res.get("/ExtGState", Dictionary()).items():
            check_extgstate(gs, rep)
        stack = []
        current = None
        nesting = 0
        for operands, op in pikepdf.parse_content_stream(content_owner):
            op = str(op)
            if op == "INLINE IMAGE":
                rep.fail("6.1.10 inline images", "an inline image (mailroom writes none; not checked here)")
                continue
            rep.check(op in OPERATORS, "6.2.2 content streams", f"operator {op!r} is not in ISO 32000-1")
            if op == "q":
                stack.append(current)
                nesting += 1
                rep.check(nesting <= 28, "6.1.13 implementation limits", "q nesting deeper than 28")
            elif op == "Q":
                current = stack.pop() if stack else current
                nesting -= 1
            elif op == "Tf":
                f = font_res.get(str(operands[0]))
                current = font_info(f) if f is not None else None
                rep.check(f is not None, "6.2.11 fonts", f"Tf names {operands[0]}, not in the resources")
            elif op in ("Tj", "'", '"', "TJ"):
                if op == "TJ":
                    strings = [x for x in operands[0] if isinstance(x, String)]
                else:
                    strings = [operands[-1]]
                if current is None or not current.ok:
                    continue
                for s in strings:
                    b = bytes(s)
                    rep.check(len(b) % 2 == 0, "6.2.11 fonts", "odd byte count in a two-byte string")
                    for i in range(0, len(b) - 1, 2):
                        current.check_code(b[i] << 8 | b[i + 1])
                        counts["glyphs"] += 1
                counts["text_runs"] += 1
            elif op in ("k", "K"):
                rep.fail("6.2.4.3 device colour spaces", "DeviceCMYK colour with an RGB output intent")
            elif op in ("cs", "CS"):
                rep.check(str(operands[0]) in ("/DeviceGray", "/DeviceRGB"), "6.2.4.3 device colour spaces",
                          f"colour space {operands[0]} (this checker knows DeviceGray and DeviceRGB only)")
            elif op == "Do":
                xo = xobjects.get(str(operands[0]))
                if xo is not None and xo.get("/Subtype") == Name.Form:
                    run(xo, xo.get("/Resources"), depth + 1)

    for page in pdf.pages:
        counts["pages"] += 1
        p = page.obj
        rep.check("/Group" not in p or p.Group.get("/S") != Name("/Transparency"),
                  "6.2.10 transparency", "a page has a transparency group")
        rep.check("/MediaBox" in p or "/MediaBox" in p.get("/Parent", Dictionary()),
                  "6.1.13 implementation limits", "a page without MediaBox")
        box = [float(x) for x in page.mediabox]
        size = (box[2] - box[0], box[3] - box[1])
        rep.check(all(3 <= s <= 14400 for s in size), "6.1.13 implementation limits",
                  f"page size {size} outside 3..14400 units")
        run(page, p.get("/Resources"))
    # fonts nobody shows still have to be embedded, with ToUnicode
    for obj in pdf.objects:
        if isinstance(obj, Dictionary) and obj.get("/Type") == Name.Font and \
                obj.get("/Subtype") != Name("/CIDFontType2"):
            font_info(obj)


def check_extgstate(gs, rep):
    smask = gs.get("/SMask")
    rep.check(smask is None or smask == Name("/None"), "6.2.10 transparency", "ExtGState with a soft mask")
    for key in ("/CA", "/ca"):
        rep.check(float(gs.get(key, 1.0)) == 1.0, "6.2.10 transparency", f"ExtGState {key} below 1")
    rep.check(gs.get("/BM", Name("/Normal")) in (Name("/Normal"), Name("/Compatible")),
              "6.2.10 transparency", "ExtGState blend mode other than Normal")
    rep.check("/TR" not in gs and "/HTP" not in gs, "6.2.5 graphics state", "ExtGState with TR or HTP")
    rep.check(gs.get("/TR2", Name("/Default")) == Name("/Default"), "6.2.5 graphics state",
              "ExtGState with a TR2 other than Default")


# ---------------------------------------------------------------------------------------
# Metadata (6.6)


def parse_pdf_date(s):
    m = re.fullmatch(r"D:(\d{4})(\d\d)?(\d\d)?(\d\d)?(\d\d)?(\d\d)?(?:([Z+-])(?:(\d\d)'?(\d\d)?'?)?)?", s)
    if not m:
        return None
    y, mo, d, h, mi, sec = (int(m.group(i)) if m.group(i) else dflt
                            for i, dflt in zip(range(1, 7), (0, 1, 1, 0, 0, 0)))
    tz = None
    if m.group(7):
        sign = -1 if m.group(7) == "-" else 1
        off = dt.timedelta(hours=int(m.group(8) or 0), minutes=int(m.group(9) or 0))
        tz = dt.timezone(sign * off)
    return dt.datetime(y, mo, d, h, mi, sec, tzinfo=tz)


def parse_xmp_date(s):
    s = s.strip()
    m = re.fullmatch(r"(\d{4})(?:-(\d\d)(?:-(\d\d)(?:T(\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?"
                     r"(Z|[+-]\d\d:\d\d)?)?)?)?", s)
    if not m:
        return None
    parts = [int(m.group(i)) if m.group(i) else dflt for i, dflt in zip(range(1, 7), (0, 1, 1, 0, 0, 0))]
    tz = None
    if m.group(7) == "Z":
        tz = dt.timezone.utc
    elif m.group(7):
        sign = -1 if m.group(7)[0] == "-" else 1
        tz = dt.timezone(sign * dt.timedelta(hours=int(m.group(7)[1:3]), minutes=int(m.group(7)[4:6])))
    return dt.datetime(*parts, tzinfo=tz)


def same_moment(a, b):
    if a is None or b is None:
        return False
    if (a.tzinfo is None) != (b.tzinfo is None):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)
    return a == b


def xmp_properties(root):
    """{(namespace, name): value} of the top-level properties, where value is the text of
    a simple property or the list of item texts of an array ({lang: text} for rdf:Alt)."""
    props = {}
    for desc in (d for rdf in root.iter(f"{{{RDF}}}RDF") for d in rdf.findall(f"{{{RDF}}}Description")):
        for attr, value in desc.attrib.items():
            if attr.startswith(f"{{{RDF}}}"):
                continue
            ns, local = attr[1:].split("}", 1)
            props[(ns, local)] = value
        for el in desc:
            ns, local = el.tag[1:].split("}", 1)
            alt = el.find(f"{{{RDF}}}Alt")
            arr = el.find(f"{{{RDF}}}Seq")
            if arr is None:
                arr = el.find(f"{{{RDF}}}Bag")
            if alt is not None:
                props[(ns, local)] = {li.get(f"{{{XML_NS}}}lang"): (li.text or "") for li in alt}
            elif arr is not None:
                props[(ns, local)] = [li for li in arr]
            else:
                props[(ns, local)] = el.text or ""
    return props


def extension_properties(root, rep):
    """{(namespace URI, property name)} described by pdfaExtension schemas."""
    described = set()
    for schemas in root.iter(f"{{{NS['pdfaExtension']}}}schemas"):
        for schema in schemas.iter(f"{{{RDF}}}li"):
            uri = schema.find(f"{{{NS['pdfaSchema']}}}namespaceURI")
            if uri is None:
                continue
            rep.check(schema.find(f"{{{NS['pdfaSchema']}}}prefix") is not None and
                      schema.find(f"{{{NS['pdfaSchema']}}}schema") is not None,
                      "6.6.2.3.3 extension schema", f"schema {uri.text} lacks prefix or schema name")
            prop = schema.find(f"{{{NS['pdfaSchema']}}}property")
            if prop is None:
                continue
            for li in prop.iter(f"{{{RDF}}}li"):
                fields = {c.tag.split("}")[1]: (c.text or "") for c in li}
                ok = rep.check({"name", "valueType", "category", "description"} <= set(fields),
                               "6.6.2.3.3 extension schema",
                               f"property {fields.get('name')} lacks name/valueType/category/description")
                ok = ok and rep.check(fields["category"] in ("internal", "external"),
                                      "6.6.2.3.3 extension schema",
                                      f"property {fields['name']}: category {fields['category']!r}")
                if ok:
                    described.add((uri.text, fields["name"]))
    return described


def check_metadata(pdf, rep, attachments):
    md = pdf.Root.get("/Metadata")
    if not rep.check(isinstance(md, Stream), "6.6.2.1 metadata", "the catalog has no /Metadata stream"):
        return None
    rep.check(md.get("/Type") == Name.Metadata and md.get("/Subtype") == Name("/XML"),
              "6.6.2.1 metadata", "metadata stream is not /Type /Metadata /Subtype /XML")
    rep.check(not filters_of(md), "6.6.2.1 metadata", f"metadata stream is compressed ({filters_of(md)})")
    raw = md.read_bytes()
    head = re.search(rb"<\?xpacket begin=[^>]*\?>", raw)
    rep.check(head is not None, "6.6.2.1 metadata", "no xpacket header")
    if head:
        rep.check(b"bytes=" not in head.group(0) and b"encoding=" not in head.group(0),
                  "6.6.2.1 metadata", "xpacket header with bytes or encoding attribute")
    try:
        raw.decode("utf-8")
        root = ET.fromstring(raw)
    except (UnicodeDecodeError, ET.ParseError) as e:
        rep.fail("6.6.2.1 metadata", f"XMP is not well-formed UTF-8 XML: {e}")
        return None
    props = xmp_properties(root)

    part = props.get((NS["pdfaid"], "part"))
    conf = props.get((NS["pdfaid"], "conformance"))
    want_part = "3" if attachments else "2"
    rep.check(part == want_part, "6.6.4 PDF/A identification",
              f"pdfaid:part is {part!r}, expected {want_part} "
              f"({'with' if attachments else 'without'} embedded files)")
    rep.check(conf == "U", "6.6.4 PDF/A identification", f"pdfaid:conformance is {conf!r}, expected U")
    title = props.get((NS["dc"], "title"))
    rep.check(isinstance(title, dict) and title.get("x-default"), "6.6.2 metadata (dc:title)",
              "no dc:title with an x-default entry")

    # every property is predefined or described by an extension schema
    described = extension_properties(root, rep)
    for (ns, local) in props:
        if ns in EXTENSION_NS:
            continue
        known = PREDEFINED.get(ns)
        if known is not None and local in known:
            continue
        rep.check((ns, local) in described, "6.6.2.3.1 extension schema",
                  f"property {local} of {ns} is neither predefined nor described")

    # the information dictionary agrees with the XMP
    info = pdf.trailer.get("/Info")
    if info is not None:
        for key in info.keys():
            if key == "/Trapped":
                continue
            if not rep.check(key in INFO_XMP, "6.6.3 Info and XMP",
                             f"Info key {key} has no XMP equivalent here"):
                continue
            value = text_of(info[key])
            xv = props.get(INFO_XMP[key])
            if key in ("/CreationDate", "/ModDate"):
                ok = isinstance(xv, str) and same_moment(parse_pdf_date(value), parse_xmp_date(xv))
            elif key == "/Title":
                ok = isinstance(xv, dict) and xv.get("x-default") == value
            elif key == "/Author":
                ok = isinstance(xv, list) and len(xv) == 1 and (xv[0].text or "") == value
            elif key == "/Subject":
                ok = isinstance(xv, dict) and xv.get("x-default") == value
            else:
                ok = xv == value
            rep.check(ok, "6.6.3 Info and XMP", f"Info {key} {value!r} differs from XMP {xv!r}")
    return props


# ---------------------------------------------------------------------------------------
# Embedded files (ISO 19005-3 6.8; none in PDF/A-2 here)


def name_tree_items(node, depth=0):
    if node is None or depth > 20:
        return
    names = node.get("/Names")
    if names is not None:
        items = list(names)
        for i in range(0, len(items) - 1, 2):
            yield items[i], items[i + 1]
    for kid in node.get("/Kids", []):
        yield from name_tree_items(kid, depth + 1)


def check_attachments(pdf, rep, expected):
    names = pdf.Root.get("/Names", Dictionary())
    specs = list(name_tree_items(names.get("/EmbeddedFiles")))
    af = pdf.Root.get("/AF", Array())
    af_ids = {x.objgen for x in af}
    found = {}
    for key, spec in specs:
        label = str(key)
        for k in ("/F", "/UF"):
            rep.check(k in spec, "6.8 embedded files", f"file specification {label} lacks {k}")
        rel = spec.get("/AFRelationship")
        rep.check(rel is not None and str(rel) in RELATIONSHIPS, "6.8 embedded files",
                  f"{label}: /AFRelationship is {rel}")
        rep.check(spec.objgen in af_ids, "6.8 embedded files", f"{label} is not in the catalog's /AF")
        ef = spec.get("/EF", Dictionary()).get("/F")
        if not rep.check(isinstance(ef, Stream), "6.8 embedded files", f"{label}: no /EF /F stream"):
            continue
        mime = ef.get("/Subtype")
        rep.check(mime is not None and re.fullmatch(r"[-\w+.]+/[-\w+.]+", str(mime)[1:]) is not None,
                  "6.8 embedded files",
                  f"{label}: embedded file has no MIME type /Subtype ({mime})")
        params = ef.get("/Params", Dictionary())
        rep.check("/ModDate" in params and parse_pdf_date(str(params.ModDate)) is not None,
                  "6.8 embedded files", f"{label}: no valid /Params /ModDate")
        size = params.get("/Size")
        data = ef.read_bytes()
        rep.check(size is None or int(size) == len(data), "6.8 embedded files",
                  f"{label}: /Params /Size {size} but {len(data)} bytes")
        found[str(spec.get("/UF", key))] = data
    for x in af:
        rep.check(any(x.objgen == s.objgen for _, s in specs), "6.8 embedded files",
                  "an /AF entry is not in the EmbeddedFiles name tree")
    for name in expected:
        rep.check(name in found, "attachment expected", f"no embedded file named {name!r} "
                  f"(found {sorted(found)})")
    return found


# ---------------------------------------------------------------------------------------


def check_file(path, expected_attachments):
    rep = Report(path)
    counts = dict(objects=0, pages=0, fonts=0, images=0, glyphs=0, text_runs=0, embedded_streams=0)
    with open(path, "rb") as f:
        data = f.read()
    offsets = check_bytes(data, rep)
    try:
        pdf = pikepdf.open(path)
    except pikepdf.PdfError as e:
        rep.fail("6.1 file structure", f"pikepdf cannot open the file: {e}")
        return rep, None
    with pdf:
        rep.check(not pdf.is_encrypted and "/Encrypt" not in pdf.trailer, "6.1.3 encryption",
                  "the file is encrypted")
        file_id = pdf.trailer.get("/ID")
        rep.check(isinstance(file_id, Array) and len(file_id) == 2 and
                  all(isinstance(x, String) and len(bytes(x)) >= 16 for x in file_id),
                  "6.1.3 file trailer", "no trailer /ID of two strings")
        rep.check(pdf.pdf_version <= "1.7", "6.1.2 file header", f"PDF version {pdf.pdf_version}")
        check_objects_framing(data, offsets, pdf, rep)
        icc = check_output_intent(pdf, rep)
        check_streams(pdf, rep, counts, icc[16:20] if icc else None)
        check_limits_and_actions(pdf, rep, counts)
        check_fonts_and_text(pdf, rep, counts)
        found = check_attachments(pdf, rep, expected_attachments)
        rep.check(len(found) == counts["embedded_streams"], "6.8 embedded files",
                  f"{counts['embedded_streams']} embedded file streams, {len(found)} in the name tree")
        props = check_metadata(pdf, rep, bool(found))
        part = props.get((NS["pdfaid"], "part")) if props else "?"
        conf = props.get((NS["pdfaid"], "conformance")) if props else "?"
        summary = (f"PDF/A-{part}{str(conf).lower()}, PDF {pdf.pdf_version}, {counts['pages']} pages, "
                   f"{counts['fonts']} fonts, {counts['images']} images, {counts['glyphs']} glyphs "
                   f"in {counts['text_runs']} text runs, {len(found)} attachments, "
                   f"{counts['objects']} objects")
    return rep, summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--expect-attachment", action="append", default=[], metavar="NAME",
                    help="fail unless an embedded file with this name (/UF) is present")
    ap.add_argument("files", nargs="+", metavar="FILE.pdf")
    args = ap.parse_args()
    failed = False
    for path in args.files:
        try:
            rep, summary = check_file(path, args.expect_attachment)
        except OSError as e:
            print(f"FAIL {path}: cannot read: {e}")
            failed = True
            continue
        lines = rep.lines()
        for line in lines:
            print(line)
        if lines:
            failed = True
        else:
            print(f"OK {path}: {summary}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
