//! `mcpr demo-server`: an MCP server over stdio with deterministic tools, for examples,
//! tests and the benchmark. Notes live in a SQLite file given by `--notes-db`, and every
//! call is logged there, so side effects sit outside the sandbox where they can be
//! counted. Every tool is annotated (`readOnlyHint`, `destructiveHint`, …) so the tool
//! policy has something to go by: `delete_note` is destructive, `add_note` additive, the
//! rest read-only. Nothing here depends on the rest of mcpr.

use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::schemars::{self, JsonSchema};
use rmcp::{Json, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct DemoServer {
    #[allow(dead_code)] // read through the #[tool_handler] macro
    tool_router: ToolRouter<Self>,
    db: Arc<Mutex<Connection>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CalculateArgs {
    /// Arithmetic expression with + - * / % ^ and parentheses, e.g. "(2 + 3) * 4".
    pub expression: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CalculateResult {
    pub expression: String,
    pub result: f64,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Units {
    #[default]
    Celsius,
    Fahrenheit,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct WeatherArgs {
    /// City name, e.g. "Paris".
    pub city: String,
    /// Temperature units.
    #[serde(default)]
    pub units: Units,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Weather {
    pub city: String,
    pub temperature: f64,
    pub units: Units,
    pub conditions: String,
    pub humidity: u32,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AddNoteArgs {
    pub title: String,
    pub body: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Note {
    pub id: i64,
    pub title: String,
    pub body: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct NoteList {
    pub notes: Vec<Note>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchNotesArgs {
    /// Words to look for in titles and bodies.
    pub query: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct NoteId {
    pub id: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TextArgs {
    pub text: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TextStats {
    pub chars: usize,
    pub words: usize,
    pub lines: usize,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Upper,
    Lower,
    Title,
    Reverse,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TransformArgs {
    pub text: String,
    pub operation: Operation,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RepeatArgs {
    pub text: String,
    /// How many times (at most 1,000,000).
    pub times: usize,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SwatchArgs {
    /// A colour name (red, green, blue, black, white) or "#rrggbb".
    pub color: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SleepArgs {
    /// Seconds to wait (at most 120).
    pub seconds: f64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ServerInfo {
    pub pid: u32,
    /// Tool calls this server has logged in its database, all processes together.
    pub calls_logged: i64,
}

const CITIES: &[(&str, f64, &str, u32)] = &[
    ("Paris", 18.0, "cloudy", 72),
    ("London", 14.0, "light rain", 81),
    ("Oslo", 6.0, "snow showers", 77),
    ("Tokyo", 22.0, "clear", 55),
    ("New York", 20.0, "sunny", 48),
    ("Sydney", 25.0, "windy", 60),
    ("Cairo", 31.0, "clear", 20),
    ("Reykjavik", 3.0, "overcast", 85),
];

#[tool_router]
impl DemoServer {
    pub fn new(db: Connection) -> Result<Self, rusqlite::Error> {
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS calls (id INTEGER PRIMARY KEY, tool TEXT NOT NULL, at TEXT NOT NULL DEFAULT (datetime('now')));",
        )?;
        Ok(Self {
            tool_router: Self::tool_router(),
            db: Arc::new(Mutex::new(db)),
        })
    }

    fn with_db<T>(
        &self,
        tool: &str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, String> {
        let db = self
            .db
            .lock()
            .map_err(|_| "the notes database is unavailable".to_string())?;
        db.execute("INSERT INTO calls (tool) VALUES (?1)", [tool])
            .map_err(|e| e.to_string())?;
        f(&db).map_err(|e| e.to_string())
    }

    #[tool(
        description = "Evaluate an arithmetic expression and return the number.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn calculate(
        &self,
        Parameters(args): Parameters<CalculateArgs>,
    ) -> Result<Json<CalculateResult>, String> {
        self.with_db("calculate", |_| Ok(()))?;
        let result = eval_expression(&args.expression)?;
        Ok(Json(CalculateResult {
            expression: args.expression,
            result,
        }))
    }

    #[tool(
        description = "Current weather for a city (fixed demo data: Paris, London, Oslo, Tokyo, New York, Sydney, Cairo, Reykjavik).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_weather(
        &self,
        Parameters(args): Parameters<WeatherArgs>,
    ) -> Result<Json<Weather>, String> {
        self.with_db("get_weather", |_| Ok(()))?;
        let (name, celsius, conditions, humidity) = CITIES
            .iter()
            .find(|(c, ..)| c.eq_ignore_ascii_case(args.city.trim()))
            .ok_or_else(|| {
                format!(
                    "no weather data for {:?}; known cities: {}",
                    args.city,
                    CITIES.iter().map(|c| c.0).collect::<Vec<_>>().join(", ")
                )
            })?;
        let temperature = match args.units {
            Units::Celsius => *celsius,
            Units::Fahrenheit => celsius * 9.0 / 5.0 + 32.0,
        };
        Ok(Json(Weather {
            city: name.to_string(),
            temperature,
            units: args.units,
            conditions: conditions.to_string(),
            humidity: *humidity,
        }))
    }

    #[tool(
        description = "Store a note; returns it with its id.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn add_note(
        &self,
        Parameters(args): Parameters<AddNoteArgs>,
    ) -> Result<Json<Note>, String> {
        let id = self.with_db("add_note", |db| {
            db.execute(
                "INSERT INTO notes (title, body) VALUES (?1, ?2)",
                [&args.title, &args.body],
            )?;
            Ok(db.last_insert_rowid())
        })?;
        Ok(Json(Note {
            id,
            title: args.title,
            body: args.body,
        }))
    }

    #[tool(
        description = "List all notes, oldest first.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_notes(&self) -> Result<Json<NoteList>, String> {
        let notes = self.with_db("list_notes", |db| {
            query_notes(db, "SELECT id, title, body FROM notes ORDER BY id", [])
        })?;
        Ok(Json(NoteList { notes }))
    }

    #[tool(
        description = "Find notes whose title or body contains the query.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn search_notes(
        &self,
        Parameters(args): Parameters<SearchNotesArgs>,
    ) -> Result<Json<NoteList>, String> {
        let pattern = format!("%{}%", args.query);
        let notes = self.with_db("search_notes", |db| {
            query_notes(
                db,
                "SELECT id, title, body FROM notes WHERE title LIKE ?1 OR body LIKE ?1 ORDER BY id",
                [pattern],
            )
        })?;
        Ok(Json(NoteList { notes }))
    }

    #[tool(
        description = "Delete a note by id; fails if there is no such note.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn delete_note(&self, Parameters(args): Parameters<NoteId>) -> Result<String, String> {
        let n = self.with_db("delete_note", |db| {
            db.execute("DELETE FROM notes WHERE id = ?1", [args.id])
        })?;
        if n == 0 {
            return Err(format!("no note with id {}", args.id));
        }
        Ok(format!("deleted note {}", args.id))
    }

    #[tool(
        description = "Count characters, words and lines of a text.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn text_stats(
        &self,
        Parameters(args): Parameters<TextArgs>,
    ) -> Result<Json<TextStats>, String> {
        self.with_db("text_stats", |_| Ok(()))?;
        Ok(Json(TextStats {
            chars: args.text.chars().count(),
            words: args.text.split_whitespace().count(),
            lines: args.text.lines().count(),
        }))
    }

    #[tool(
        description = "Transform a text: upper, lower, title case or reverse.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn transform_text(
        &self,
        Parameters(args): Parameters<TransformArgs>,
    ) -> Result<String, String> {
        self.with_db("transform_text", |_| Ok(()))?;
        Ok(match args.operation {
            Operation::Upper => args.text.to_uppercase(),
            Operation::Lower => args.text.to_lowercase(),
            Operation::Reverse => args.text.chars().rev().collect(),
            Operation::Title => args
                .text
                .split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| {
                            f.to_uppercase()
                                .chain(c.flat_map(char::to_lowercase))
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect::<Vec<String>>()
                .join(" "),
        })
    }

    #[tool(
        description = "Repeat a text many times (useful to produce a large result).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn repeat_text(
        &self,
        Parameters(args): Parameters<RepeatArgs>,
    ) -> Result<String, String> {
        self.with_db("repeat_text", |_| Ok(()))?;
        if args.times > 1_000_000 {
            return Err(format!("times must be at most 1000000, got {}", args.times));
        }
        Ok(args.text.repeat(args.times))
    }

    #[tool(
        description = "A 1x1 PNG image of a colour.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn color_swatch(
        &self,
        Parameters(args): Parameters<SwatchArgs>,
    ) -> Result<CallToolResult, String> {
        self.with_db("color_swatch", |_| Ok(()))?;
        let rgb = parse_color(&args.color)?;
        let png = tiny_png(rgb);
        let data = base64_encode(&png);
        Ok(CallToolResult::success(vec![ContentBlock::image(
            data,
            "image/png",
        )]))
    }

    #[tool(
        description = "Wait for some seconds, then answer (a slow tool for tests).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn sleep(&self, Parameters(args): Parameters<SleepArgs>) -> Result<String, String> {
        self.with_db("sleep", |_| Ok(()))?;
        if !(0.0..=120.0).contains(&args.seconds) {
            return Err(format!(
                "seconds must be between 0 and 120, got {}",
                args.seconds
            ));
        }
        tokio::time::sleep(std::time::Duration::from_secs_f64(args.seconds)).await;
        Ok(format!("slept {} s", args.seconds))
    }

    #[tool(
        description = "This server's process id and how many calls it has logged.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn server_info(&self) -> Result<Json<ServerInfo>, String> {
        let calls_logged = self.with_db("server_info", |db| {
            db.query_row("SELECT count(*) FROM calls", [], |r| r.get(0))
        })?;
        Ok(Json(ServerInfo {
            pid: std::process::id(),
            calls_logged,
        }))
    }
}

#[tool_handler]
impl ServerHandler for DemoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

fn query_notes<P: rusqlite::Params>(
    db: &Connection,
    sql: &str,
    params: P,
) -> rusqlite::Result<Vec<Note>> {
    let mut stmt = db.prepare(sql)?;
    stmt.query_map(params, |r| {
        Ok(Note {
            id: r.get(0)?,
            title: r.get(1)?,
            body: r.get(2)?,
        })
    })?
    .collect()
}

/// Serves the demo tools on stdin/stdout until the client goes away.
pub async fn serve_stdio(notes_db: Option<&Path>) -> Result<(), String> {
    let db = match notes_db {
        Some(path) => Connection::open(path)
            .map_err(|e| format!("cannot open notes database {}: {e}", path.display()))?,
        None => Connection::open_in_memory().map_err(|e| e.to_string())?,
    };
    let server =
        DemoServer::new(db).map_err(|e| format!("cannot prepare the notes database: {e}"))?;
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("MCP handshake failed: {e}"))?;
    running.waiting().await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Evaluates + - * / % ^ with parentheses and unary minus.
pub fn eval_expression(text: &str) -> Result<f64, String> {
    let tokens: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut p = Parser {
        tokens: &tokens,
        pos: 0,
    };
    let value = p.sum()?;
    if p.pos != tokens.len() {
        return Err(format!(
            "unexpected {:?} at position {} in {text:?}",
            tokens[p.pos],
            p.pos + 1
        ));
    }
    if !value.is_finite() {
        return Err(format!("{text:?} has no finite value"));
    }
    Ok(value)
}

struct Parser<'a> {
    tokens: &'a [char],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.tokens.get(self.pos).copied()
    }

    fn sum(&mut self) -> Result<f64, String> {
        let mut v = self.product()?;
        while let Some(op @ ('+' | '-')) = self.peek() {
            self.pos += 1;
            let r = self.product()?;
            v = if op == '+' { v + r } else { v - r };
        }
        Ok(v)
    }

    fn product(&mut self) -> Result<f64, String> {
        let mut v = self.power()?;
        while let Some(op @ ('*' | '/' | '%')) = self.peek() {
            self.pos += 1;
            let r = self.power()?;
            if r == 0.0 && op != '*' {
                return Err("division by zero".into());
            }
            v = match op {
                '*' => v * r,
                '/' => v / r,
                _ => v % r,
            };
        }
        Ok(v)
    }

    fn power(&mut self) -> Result<f64, String> {
        let base = self.unary()?;
        if self.peek() == Some('^') {
            self.pos += 1;
            let exp = self.power()?;
            return Ok(base.powf(exp));
        }
        Ok(base)
    }

    fn unary(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some('-') => {
                self.pos += 1;
                Ok(-self.unary()?)
            }
            Some('+') => {
                self.pos += 1;
                self.unary()
            }
            Some('(') => {
                self.pos += 1;
                let v = self.sum()?;
                if self.peek() != Some(')') {
                    return Err("missing closing parenthesis".into());
                }
                self.pos += 1;
                Ok(v)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => {
                let start = self.pos;
                while matches!(self.peek(), Some(c) if c.is_ascii_digit() || c == '.') {
                    self.pos += 1;
                }
                let s: String = self.tokens[start..self.pos].iter().collect();
                s.parse().map_err(|_| format!("{s:?} is not a number"))
            }
            Some(c) => Err(format!("unexpected {c:?} at position {}", self.pos + 1)),
            None => Err("the expression ends too early".into()),
        }
    }
}

fn parse_color(name: &str) -> Result<[u8; 3], String> {
    let named = match name.trim().to_lowercase().as_str() {
        "red" => Some([255, 0, 0]),
        "green" => Some([0, 128, 0]),
        "blue" => Some([0, 0, 255]),
        "black" => Some([0, 0, 0]),
        "white" => Some([255, 255, 255]),
        _ => None,
    };
    if let Some(rgb) = named {
        return Ok(rgb);
    }
    let hex = name.trim().trim_start_matches('#');
    if hex.len() == 6
        && let Ok(v) = u32::from_str_radix(hex, 16)
    {
        return Ok([(v >> 16) as u8, (v >> 8) as u8, v as u8]);
    }
    Err(format!(
        "unknown colour {name:?}: use red, green, blue, black, white or #rrggbb"
    ))
}

/// A valid 1x1 RGB PNG (zlib stored block, so no compressor is needed).
fn tiny_png(rgb: [u8; 3]) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind);
        out.extend(data);
        let crc = crc32(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    chunk(&mut png, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]);
    let raw = [0u8, rgb[0], rgb[1], rgb[2]];
    let mut zlib = vec![0x78, 0x01, 0x01, 4, 0, 0xfb, 0xff];
    zlib.extend(raw);
    zlib.extend(adler32(&raw).to_be_bytes());
    chunk(&mut png, b"IDAT", &zlib);
    chunk(&mut png, b"IEND", &[]);
    png
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &d in data {
        a = (a + d as u32) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calculator_follows_precedence_and_reports_errors() {
        assert_eq!(eval_expression("(2 + 3) * 4").unwrap(), 20.0);
        assert_eq!(eval_expression("2 ^ 3 ^ 2").unwrap(), 512.0);
        assert_eq!(eval_expression("-3 + 10 % 4").unwrap(), -1.0);
        assert!(
            eval_expression("1 / 0")
                .unwrap_err()
                .contains("division by zero")
        );
        assert!(eval_expression("2 +").is_err());
        assert!(eval_expression("2 $ 3").unwrap_err().contains("unexpected"));
    }

    #[test]
    fn png_has_valid_checksums() {
        let png = tiny_png([1, 2, 3]);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR's CRC over "IHDR" + data, checked against the well-known value for 1x1 RGB.
        assert_eq!(&png[29..33], &crc32(&png[12..29]).to_be_bytes());
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }
}
