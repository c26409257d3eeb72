//! Profiles: TOML syntax, unknown keys, value checks, separator patterns, routing rules
//! (`RuleSet::new`) and `mailroom route --check`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom::config::Profile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let checked = Profile::parse(text);
    if let Ok(profile) = Profile::parse_unchecked(text) {
        let _ = mailroom::routing::check::check(&profile.routing);
        let rules = mailroom::routing::rules::RuleSet::new(&profile.routing);
        let _ = mailroom::separation::Rules::new(&profile.separation);
        // a profile that passed validation compiles
        if let Ok(p) = &checked {
            assert!(rules.is_ok(), "a valid profile's rules compile");
            assert!(mailroom::separation::Rules::new(&p.separation).is_ok());
            // and reads back equal from its own serialisation: a value that passed the
            // checks passes them again (NaN, for one, would not compare equal)
            if let Ok(again) = toml::to_string(p) {
                let back = Profile::parse(&again)
                    .unwrap_or_else(|e| panic!("serialised profile fails: {e:#}\n{again}"));
                assert_eq!(&back, p);
            }
        }
    } else {
        assert!(checked.is_err());
    }
});
