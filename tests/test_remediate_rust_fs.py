"""Rust file patches (std::fs, tokio::fs): the create becomes its own check (`create_new`), a
directory create takes AlreadyExists as done; guidance for rename/copy, and in-process guidance
in Rust where no rewrite is sound."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest.importorskip("tree_sitter_rust")

from race_mcp import propose_patches

from ._remediate_rust_helpers import verified_patch

HEADER = "use std::fs::{self, File, OpenOptions};\nuse std::io::Write;\nuse std::path::Path;\n\n"
EXCLUSIVE = "OpenOptions::new().write(true).create_new(true)"


def _function(
    body: str, signature: str = "fn save(path: &Path, body: String) -> std::io::Result<bool>"
) -> str:
    return HEADER + signature + " {\n" + textwrap.indent(textwrap.dedent(body), "    ") + "}\n"


def test_fs_write_becomes_an_exclusive_open_and_write_all(tmp_path: Path) -> None:
    source = _function(
        """\
        if path.exists() {
            return Ok(false);
        }
        fs::write(path, body)?;
        Ok(true)
        """
    )
    patched = verified_patch(source, "src/save.rs", "RC701", "save", tmp_path)
    assert (
        f"    std::fs::{EXCLUSIVE}.open(path).and_then(|mut file| "
        "std::io::Write::write_all(&mut file, AsRef::<[u8]>::as_ref(&body)))?;\n"
    ) in patched


def test_file_create_becomes_create_new(tmp_path: Path) -> None:
    source = _function(
        """\
        let lock = path.join("owner.lock");
        if lock.exists() {
            return Ok(false);
        }
        let mut file = File::create(&lock)?;
        file.write_all(body.as_bytes())?;
        Ok(true)
        """
    )
    patched = verified_patch(source, "src/lock.rs", "RC701", "save", tmp_path)
    assert patched == source.replace("File::create(&lock)", f"std::fs::{EXCLUSIVE}.open(&lock)")


def test_open_options_create_becomes_create_new(tmp_path: Path) -> None:
    source = _function(
        """\
        if path.exists() {
            return Ok(false);
        }
        let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
        file.write_all(body.as_bytes())?;
        Ok(true)
        """
    )
    patched = verified_patch(source, "src/opts.rs", "RC701", "save", tmp_path)
    assert patched == source.replace(".create(true)", ".create_new(true)")


def test_tokio_write_keeps_its_await_and_question_mark(tmp_path: Path) -> None:
    source = _function(
        """\
        if tokio::fs::try_exists(path).await? {
            return Ok(false);
        }
        tokio::fs::write(path, body).await?;
        Ok(true)
        """,
        signature="async fn save(path: &Path, body: String) -> std::io::Result<bool>",
    )
    patched = verified_patch(source, "src/report.rs", "RC701", "save", tmp_path)
    assert (
        f"    tokio::io::AsyncWriteExt::write_all(&mut tokio::fs::{EXCLUSIVE}.open(path).await?, "
        "AsRef::<[u8]>::as_ref(&body)).await?;\n"
    ) in patched


def test_create_dir_takes_already_exists_as_done(tmp_path: Path) -> None:
    source = _function(
        """\
        let dir = path.join("inbox");
        if !dir.is_dir() {
            fs::create_dir(&dir)?;
        }
        Ok(true)
        """
    )
    patched = verified_patch(source, "src/inbox.rs", "RC701", "save", tmp_path)
    assert (
        "        (match std::fs::create_dir(&dir) { Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists"
        " => Ok(()), other => other })?;\n"
    ) in patched


def test_rename_onto_a_checked_destination_gets_guidance() -> None:
    source = _function(
        """\
        let dest = path.join("published");
        if dest.exists() {
            return Ok(false);
        }
        fs::rename(path, &dest)?;
        Ok(true)
        """
    )
    report = propose_patches(source, "src/publish.rs")
    assert report.patches == []
    assert "hard_link" in report.unpatched[0].guidance


@pytest.mark.parametrize("module", ["std::fs", "tokio::fs"])
def test_a_file_read_and_written_back_gets_lock_guidance_not_create_new(module: str) -> None:
    # create_new would refuse the file that was just read: a lost update needs a lock.
    awaited = ".await" if module == "tokio::fs" else ""
    source = _function(
        f"""\
        let count: u64 = {module}::read_to_string(path){awaited}?.trim().parse().unwrap_or(0);
        {module}::write(path, (count + 1).to_string()){awaited}?;
        Ok(true)
        """,
        signature="async fn bump(path: &Path) -> std::io::Result<bool>",
    )
    report = propose_patches(source, "src/bump.rs")
    assert report.patches == []
    (unpatched,) = report.unpatched
    assert unpatched.rule_id == "RC701" and "file.lock()?" in unpatched.guidance
    assert "create_new" not in unpatched.guidance


def test_a_std_guard_held_across_an_await_gets_rust_guidance() -> None:
    memory = textwrap.dedent(
        """\
        use axum::extract::State;
        use std::sync::{Arc, Mutex};

        struct AppState {
            stock: Mutex<u32>,
        }

        async fn buy(State(state): State<Arc<AppState>>) -> bool {
            let left = *state.stock.lock().unwrap();
            if left == 0 {
                return false;
            }
            confirm().await;
            *state.stock.lock().unwrap() = left - 1;
            true
        }
        """
    )
    [memory_help] = propose_patches(memory, "src/shop.rs").unpatched
    assert memory_help.rule_id == "RC102" and "fetch_update" in memory_help.guidance
