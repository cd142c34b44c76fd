//! The kernel's names for a front end's variables view: a fixed snippet run quietly as
//! an unnumbered cell (never recorded, nothing left in the namespace), every repr bounded
//! by `reprlib`, a cap on the names, and a short time limit, so looking never holds the
//! kernel for long nor changes what a replay sees.

use std::time::Duration;

use crate::event::Variable;

/// At most this many names are described.
pub const MAX_NAMES: usize = 300;

/// How long the snippet may run before it is interrupted (it stops at once then, with
/// what it has; the grace before a kill is long, since a kill would lose the state).
pub const TIME_LIMIT: Duration = Duration::from_secs(3);
pub const GRACE: Duration = Duration::from_secs(20);

/// Prints one line: a marker and the names as JSON.
pub const SNIPPET: &str = r#"def _mcpr_variables():
    import json, reprlib, sys, types
    short, long = reprlib.Repr(), reprlib.Repr()
    short.maxstring = short.maxother = 120
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 12
    short.maxlevel = 2
    long.maxstring = long.maxother = 4000
    long.maxlist = long.maxtuple = long.maxdict = long.maxset = 200
    long.maxlevel = 6
    rows = []
    try:
        for name, value in list(vars(sys.modules["__main__"]).items()):
            if name.startswith("_") or isinstance(value, types.ModuleType):
                continue
            if len(rows) >= MAX:
                break
            row = {"name": name, "type_name": type(value).__name__}
            try:
                if not isinstance(value, type) and hasattr(value, "__len__"):
                    row["len"] = len(value)
            except Exception:
                pass
            for key, r in (("repr", short), ("long_repr", long)):
                try:
                    row[key] = r.repr(value)
                except Exception as e:
                    row[key] = "<repr failed: %s>" % type(e).__name__
            rows.append(row)
    except KeyboardInterrupt:
        pass
    sys.stdout.write("\n\x00mcpr-variables " + json.dumps(rows) + "\n")
try:
    _mcpr_variables()
finally:
    del _mcpr_variables
"#;

/// The snippet with its cap filled in.
pub fn code() -> String {
    SNIPPET.replace("MAX", &MAX_NAMES.to_string())
}

/// The names from the snippet's output.
pub fn parse(stdout: &str) -> Result<Vec<Variable>, String> {
    let json = stdout
        .lines()
        .find_map(|l| l.strip_prefix("\u{0}mcpr-variables "))
        .ok_or("the kernel did not list its names")?;
    serde_json::from_str(json).map_err(|e| format!("the kernel's list of names is unreadable: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snippets_line_parses() {
        let out = "noise\n\u{0}mcpr-variables [{\"name\": \"x\", \"type_name\": \"int\", \"repr\": \"1\", \"long_repr\": \"1\"}]\n";
        let vars = parse(out).unwrap();
        assert_eq!(vars[0].name, "x");
        assert_eq!(vars[0].len, None);
        assert!(parse("nothing").is_err());
        assert!(code().contains(&MAX_NAMES.to_string()));
    }
}
