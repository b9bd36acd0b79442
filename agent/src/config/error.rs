//! Config errors with `file:line:col` locations, and the per-load error sink
//! that turns byte spans from the TOML parser into lines and columns.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in the configuration, with its location when one is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the location is unknown (e.g. an unreadable file).
    pub line: usize,
    /// 1-based, in characters; 0 when unknown.
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.col,
                self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found while loading (never empty when returned as an error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Index into [`Sink::files`]; every located value remembers its file.
pub(crate) type FileId = usize;

/// A config file's text, kept so byte spans can become line:col.
#[derive(Debug)]
pub(crate) struct SourceFile {
    /// As given (main file) or as produced by the include glob.
    pub path: PathBuf,
    /// Absolute directory of the file: the base for its relative paths.
    pub dir: PathBuf,
    pub text: String,
}

impl SourceFile {
    pub fn new(path: &Path, text: String) -> Self {
        let parent = path.parent().unwrap_or(Path::new(""));
        // Absolute so that a later chdir (e.g. into a program's directory)
        // can't change what a relative path in the file means.
        let dir = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
        SourceFile {
            path: path.to_path_buf(),
            dir,
            text,
        }
    }

    /// 1-based line and column (in chars) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        // Spans always fall on char boundaries, but be defensive.
        let offset = (0..=offset)
            .rev()
            .find(|&o| self.text.is_char_boundary(o))
            .unwrap_or(0);
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }
}

/// A position inside one of the loaded files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Loc {
    pub file: FileId,
    /// Byte span; `None` for "the whole file".
    pub span: Option<Range<usize>>,
}

impl Loc {
    pub fn new(file: FileId, span: Range<usize>) -> Self {
        Loc {
            file,
            span: Some(span),
        }
    }
}

/// Collects errors for one load; all files loaded so far live here too.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    pub files: Vec<SourceFile>,
    errors: Vec<(FileId, ConfigError)>,
}

impl Sink {
    pub fn add_file(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        self.files.len() - 1
    }

    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id]
    }

    pub fn error(&mut self, loc: &Loc, message: impl Into<String>) {
        let file = &self.files[loc.file];
        let (line, col) = loc.span.as_ref().map_or((0, 0), |s| file.line_col(s.start));
        self.errors.push((
            loc.file,
            ConfigError {
                file: file.path.clone(),
                line,
                col,
                message: message.into(),
            },
        ));
    }

    /// An error about a file that is not (or not yet) in `files`.
    pub fn file_error(&mut self, order: FileId, path: &Path, message: impl Into<String>) {
        self.errors.push((
            order,
            ConfigError {
                file: path.to_path_buf(),
                line: 0,
                col: 0,
                message: message.into(),
            },
        ));
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// All errors, ordered by file (load order), line, column: the order
    /// they were found in depends on checking order, which is no help to a reader.
    pub fn into_errors(mut self) -> ConfigErrors {
        self.errors
            .sort_by(|(fa, a), (fb, b)| (fa, a.line, a.col).cmp(&(fb, b.line, b.col)));
        self.errors.dedup_by(|(_, a), (_, b)| a == b);
        ConfigErrors(self.errors.into_iter().map(|(_, e)| e).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_chars_from_one() {
        let f = SourceFile::new(Path::new("/x/a.toml"), "ab\nçd = 1\n".into());
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(1), (1, 2));
        assert_eq!(f.line_col(3), (2, 1));
        // 'ç' is two bytes but one column.
        assert_eq!(f.line_col(5), (2, 2));
        assert_eq!(f.line_col(1000), (3, 1));
        assert_eq!(f.dir, PathBuf::from("/x"));
    }

    #[test]
    fn display_with_and_without_location() {
        let e = ConfigError {
            file: "a.toml".into(),
            line: 3,
            col: 7,
            message: "boom".into(),
        };
        assert_eq!(e.to_string(), "a.toml:3:7: boom");
        let e2 = ConfigError {
            line: 0,
            col: 0,
            ..e.clone()
        };
        assert_eq!(e2.to_string(), "a.toml: boom");
        assert_eq!(
            ConfigErrors(vec![e, e2]).to_string(),
            "a.toml:3:7: boom\na.toml: boom"
        );
    }
}
