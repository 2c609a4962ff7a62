//! QuickJS stack traces, mapped from the generated script back to the snippet.
//!
//! QuickJS-ng writes one frame a line, `    at NAME (FILE:LINE:COLUMN)`. Frames in the bridge,
//! in native code and in the wrapper around the snippet are the sandbox's business, not the
//! agent's: only the snippet's own frames (and its skills') are kept, at the positions the
//! agent wrote, and at most [`MAX_FRAMES`] of them (a snippet can write anything into
//! `e.stack`).

use crate::transpile::{PositionMap, SNIPPET_FILE};

pub(crate) struct Mapped {
    /// The innermost snippet frame's position, 1-based.
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// The snippet's frames, innermost first; `None` when there are none.
    pub stack: Option<String>,
}

/// The most frames read from a stack, and kept of it.
pub(crate) const MAX_FRAMES: usize = 64;

/// Maps the frames of `raw`; the snippet's syntax tree may use `memory` bytes. `skills` are
/// the run's skills, each its name and its text as a snippet body (`Skill::body`): their
/// frames are kept too, at their files' positions (`skills/<name>.ts`), but the position of
/// the error is the snippet's innermost frame.
pub(crate) fn map(raw: &str, code: &str, skills: &[(String, String)], memory: usize) -> Mapped {
    // Which source a frame is in: 0 the snippet, i + 1 the skill i.
    let source_of = |file: &str| -> Option<usize> {
        if file == SNIPPET_FILE {
            return Some(0);
        }
        let name = file.strip_prefix("skills/")?.strip_suffix(".ts")?;
        skills.iter().position(|(n, _)| n == name).map(|i| i + 1)
    };
    let ours: Vec<(usize, Frame<'_>)> = raw
        .lines()
        .take(MAX_FRAMES)
        .filter_map(parse_frame)
        .filter_map(|frame| Some((source_of(frame.file)?, frame)))
        .collect();
    let mut positions: Vec<Option<(u32, u32)>> = vec![None; ours.len()];
    for source in 0..=skills.len() {
        let at: Vec<usize> = (0..ours.len()).filter(|&i| ours[i].0 == source).collect();
        if at.is_empty() {
            continue;
        }
        let text = if source == 0 {
            code
        } else {
            &skills[source - 1].1
        };
        let points: Vec<(u32, u32)> = at
            .iter()
            .map(|&i| (ours[i].1.line, ours[i].1.column))
            .collect();
        for (i, position) in at
            .into_iter()
            .zip(PositionMap::new(text, memory).positions(&points))
        {
            positions[i] = position;
        }
    }
    let mut first = None;
    let mut frames = String::new();
    for ((source, frame), position) in ours.into_iter().zip(positions) {
        let Some((line, column)) = position else {
            continue;
        };
        if source == 0 {
            first.get_or_insert((line, column));
        }
        frames.push_str(&format!(
            "    at {} ({}:{line}:{column})\n",
            frame.name, frame.file
        ));
    }
    Mapped {
        line: first.map(|(line, _)| line),
        column: first.map(|(_, column)| column),
        stack: (!frames.is_empty()).then_some(frames),
    }
}

struct Frame<'a> {
    name: &'a str,
    file: &'a str,
    line: u32,
    column: u32,
}

/// `    at NAME (FILE:LINE:COLUMN)` or `    at FILE:LINE:COLUMN`.
fn parse_frame(text: &str) -> Option<Frame<'_>> {
    let text = text.trim().strip_prefix("at ")?;
    let (name, location) = match text.strip_suffix(')').and_then(|t| t.rsplit_once(" (")) {
        Some((name, location)) => (name, location),
        None => ("<anonymous>", text),
    };
    let mut parts = location.rsplitn(3, ':');
    let column = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    let file = parts.next()?;
    Some(Frame {
        name,
        file,
        line,
        column,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transpile::to_script;

    #[test]
    fn frames_parse_with_and_without_names() {
        let frame = parse_frame("    at f (snippet.ts:3:12)").unwrap();
        assert_eq!(
            (frame.name, frame.file, frame.line, frame.column),
            ("f", "snippet.ts", 3, 12)
        );
        let frame = parse_frame("    at codemode:bridge:56:53").unwrap();
        assert_eq!(
            (frame.file, frame.line, frame.column),
            ("codemode:bridge", 56, 53)
        );
        assert!(parse_frame("    at f (native)").is_none());
    }

    #[test]
    fn only_snippet_frames_are_kept_at_snippet_positions() {
        let code = "function f(): never {\n  throw new Error('boom')\n}\nconst x: number = 1;\nf()";
        let script = to_script(code, usize::MAX).unwrap();
        let lines: Vec<&str> = script.lines().collect();
        let throw_line = lines.iter().position(|l| l.contains("throw")).unwrap();
        let throw_column = lines[throw_line].find("throw").unwrap();
        let call_line = lines.iter().position(|l| *l == "f();").unwrap();
        let raw = format!(
            "    at f (snippet.ts:{}:{})\n    at <anonymous> (snippet.ts:{}:1)\n    at nope (codemode:bridge:56:53)\n    at <eval> (snippet.ts:{}:1)\n",
            throw_line + 1,
            throw_column + 1,
            call_line + 1,
            lines.len(),
        );
        let mapped = map(&raw, code, &[], usize::MAX);
        assert_eq!((mapped.line, mapped.column), (Some(2), Some(3)));
        assert_eq!(
            mapped.stack.as_deref(),
            Some("    at f (snippet.ts:2:3)\n    at <anonymous> (snippet.ts:5:1)\n")
        );
    }
}
