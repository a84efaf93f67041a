//! What a setup may ask its installers for, checked the same way by the Worker (which answers a
//! 400 naming the problem) and the executor (which never hands an installer an option).

/// Largest requirements or package.json text a setup may carry.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024;

/// Refuses package specs that could be read as installer options: empty, starting with `-`,
/// over 256 bytes, or holding whitespace or control characters.
pub fn check_specs(pkgs: &[String]) -> Result<(), String> {
    for p in pkgs {
        if p.is_empty() || p.starts_with('-') || p.len() > 256 || p.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(format!("invalid package name {p:?}"));
        }
    }
    Ok(())
}

/// Checks the text of a requirements file: package specs (with versions, extras, environment
/// markers and `--hash=<algorithm>:<hex>` options), comments and blank lines. Any other option
/// (`-r`, `-e`, `--index-url`, `--trusted-host`, …) could fetch from elsewhere or read files, so
/// its line is refused, named by number.
pub fn check_requirements(text: &str) -> Result<(), String> {
    if text.len() > MAX_MANIFEST_BYTES {
        return Err(format!("the requirements are {} bytes, the limit is {MAX_MANIFEST_BYTES}", text.len()));
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err("the requirements hold a control character".into());
    }
    // Backslash-continued lines form one logical line, named by its first line's number.
    let mut logical: Vec<(usize, String)> = Vec::new();
    let mut open = false;
    for (i, raw) in text.lines().enumerate() {
        let (body, continues) = match raw.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (raw, false),
        };
        match logical.last_mut() {
            Some((_, l)) if open => {
                l.push(' ');
                l.push_str(body);
            }
            _ => logical.push((i + 1, body.to_string())),
        }
        open = continues;
    }
    for (n, line) in logical {
        let content = strip_comment(&line).trim();
        if content.is_empty() {
            continue;
        }
        let refuse = |why: &str| Err(format!("requirements line {n} ({:?}): {why}", truncated(line.trim(), 120)));
        if content.starts_with('-') {
            return refuse("only package specs are accepted (with versions, markers and --hash options), not installer options");
        }
        for token in content.split_whitespace().filter(|t| t.starts_with("--")) {
            if !is_hash_option(token) {
                return refuse("the only option a spec may carry is --hash=<sha256|sha384|sha512>:<hex digest>");
            }
        }
    }
    Ok(())
}

/// A comment starts at `#` at the start of a line or after whitespace (as pip reads it).
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

fn is_hash_option(token: &str) -> bool {
    let Some(value) = token.strip_prefix("--hash=") else { return false };
    let Some((alg, hex)) = value.split_once(':') else { return false };
    matches!(alg, "sha256" | "sha384" | "sha512") && !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn truncated(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Checks the text of a package.json for `npm install`: a JSON object whose `dependencies`,
/// `devDependencies` and `optionalDependencies`, when present, map package names to version
/// strings (no name may look like an option).
pub fn check_package_json(text: &str) -> Result<(), String> {
    if text.len() > MAX_MANIFEST_BYTES {
        return Err(format!("packageJson is {} bytes, the limit is {MAX_MANIFEST_BYTES}", text.len()));
    }
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("packageJson is not valid JSON: {e}"))?;
    let obj = v.as_object().ok_or("packageJson must be a JSON object")?;
    for field in ["dependencies", "devDependencies", "optionalDependencies"] {
        let Some(deps) = obj.get(field) else { continue };
        let deps = deps.as_object().ok_or_else(|| format!("packageJson `{field}` must be an object"))?;
        for (name, version) in deps {
            if name.is_empty() || name.starts_with('-') || name.len() > 214 || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(format!("packageJson `{field}` names an invalid package {name:?}"));
            }
            if !version.is_string() {
                return Err(format!("packageJson `{field}.{name}` must be a version string"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_that_look_like_options_are_refused() {
        assert!(check_specs(&["requests==2.31".into(), "lodash@4".into()]).is_ok());
        assert!(check_specs(&["--index-url=http://x".into()]).is_err());
        assert!(check_specs(&["a b".into()]).is_err());
        assert!(check_specs(&["".into()]).is_err());
    }

    #[test]
    fn requirements_text_takes_specs_markers_hashes_and_comments() {
        let ok = "# pinned\n\nrequests==2.31.0 --hash=sha256:0123abcd \\\n    --hash=sha256:ffee\nsix>=1.16; python_version >= \"3.8\"  # why\nattrs[tests]\n";
        assert_eq!(check_requirements(ok), Ok(()));
        assert_eq!(check_requirements(""), Ok(()));
        assert_eq!(check_requirements("a#b==1"), Ok(()), "a # inside a token is not a comment");
    }

    #[test]
    fn requirements_options_are_refused_naming_the_line() {
        for (text, line) in [
            ("requests\n-r other.txt\n", 2),
            ("-e git+https://x/y.git", 1),
            ("# ok\n\n--index-url https://evil.example/simple", 3),
            ("requests --index-url=https://evil.example", 1),
            ("requests --hash=md5:abcd", 1),
            ("requests --hash=sha256:xyz", 1),
            ("a\nb \\\n  --trusted-host x", 2),
        ] {
            let e = check_requirements(text).unwrap_err();
            assert!(e.starts_with(&format!("requirements line {line} ")), "{text:?}: {e}");
        }
        assert!(check_requirements("a\0b").is_err());
        assert!(check_requirements(&"a\n".repeat(MAX_MANIFEST_BYTES)).is_err());
    }

    #[test]
    fn package_json_is_an_object_of_dependency_maps() {
        assert_eq!(check_package_json(r#"{"name":"x","type":"module","dependencies":{"lodash":"^4.17.21","ms":">=2 <3"}}"#), Ok(()));
        assert_eq!(check_package_json("{}"), Ok(()));
        for bad in
            ["[]", "not json", r#"{"dependencies":["lodash"]}"#, r#"{"dependencies":{"lodash":4}}"#, r#"{"devDependencies":{"--foo":"1"}}"#]
        {
            assert!(check_package_json(bad).is_err(), "{bad}");
        }
    }
}
