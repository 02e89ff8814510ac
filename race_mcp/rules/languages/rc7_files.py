"""RC7xx filesystem in JavaScript/TypeScript and Rust. The filesystem: Node's `fs` and Rust's `std::fs`.
Keyed by rule id; `race_mcp.rules` attaches each entry to its rule (`Rule.other_languages`).
"""

from __future__ import annotations

from .._model import LanguageExamples, OtherLanguage, snippet

__all__ = ["EXAMPLES"]

EXAMPLES: dict[str, dict[OtherLanguage, LanguageExamples]] = {
    "RC701": {
        "javascript": LanguageExamples(
            filename="uploads.js",
            racy=snippet(
                """
                const express = require("express");
                const fs = require("node:fs");
                const path = require("node:path");

                const app = express();

                app.post("/uploads/:name", express.raw({ type: "*/*" }), (req, res) => {
                  const target = path.join("/srv/uploads", path.basename(req.params.name));
                  if (fs.existsSync(target)) {
                    return res.status(409).end();
                  }
                  fs.writeFileSync(target, req.body);
                  res.status(201).json({ saved: req.params.name });
                });
                """
            ),
            fixed=snippet(
                """
                const express = require("express");
                const fs = require("node:fs");
                const path = require("node:path");

                const app = express();

                app.post("/uploads/:name", express.raw({ type: "*/*" }), (req, res) => {
                  const target = path.join("/srv/uploads", path.basename(req.params.name));
                  try {
                    fs.writeFileSync(target, req.body, { flag: "wx" }); // O_EXCL: fails if the file exists
                  } catch (err) {
                    if (err.code === "EEXIST") return res.status(409).end();
                    throw err;
                  }
                  res.status(201).json({ saved: req.params.name });
                });
                """
            ),
        ),
        "rust": LanguageExamples(
            filename="uploads.rs",
            fix=(
                "Create atomically: `OpenOptions::new().write(true).create_new(true).open(path)` (or "
                "`File::create_new`) and answer `ErrorKind::AlreadyExists`; a directory with `create_dir`, "
                "handling `AlreadyExists`."
            ),
            racy=snippet(
                """
                use actix_web::{post, web, HttpResponse};
                use std::path::Path;

                #[post("/uploads/{name}")]
                async fn upload(name: web::Path<String>, body: web::Bytes) -> std::io::Result<HttpResponse> {
                    let target = Path::new("/srv/uploads").join(sanitize(&name));
                    if target.exists() {
                        return Ok(HttpResponse::Conflict().finish());
                    }
                    std::fs::write(&target, &body)?;
                    Ok(HttpResponse::Created().finish())
                }
                """
            ),
            fixed=snippet(
                """
                use actix_web::{post, web, HttpResponse};
                use std::fs::OpenOptions;
                use std::io::{ErrorKind, Write};
                use std::path::Path;

                #[post("/uploads/{name}")]
                async fn upload(name: web::Path<String>, body: web::Bytes) -> std::io::Result<HttpResponse> {
                    let target = Path::new("/srv/uploads").join(sanitize(&name));
                    // create_new is O_EXCL: the check and the creation are one system call.
                    match OpenOptions::new().write(true).create_new(true).open(&target) {
                        Ok(mut file) => file.write_all(&body)?,
                        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
                            return Ok(HttpResponse::Conflict().finish());
                        }
                        Err(err) => return Err(err),
                    }
                    Ok(HttpResponse::Created().finish())
                }
                """
            ),
        ),
    },
}
