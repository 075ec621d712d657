#!/usr/bin/env python3
"""Every path the documents name must exist: `make doc-paths`.

Reads README.md and docs/*.md and checks three kinds of names:
- repository paths (src/..., coordinator/..., tests/..., docker/..., bench/..., server/...,
  client/..., fuzz/..., examples/..., docs/...): the file or folder exists;
- relative Markdown links, [text](path#anchor): the target exists beside the document, and an
  anchor names one of its headings (GitHub's slugs: lowercase, punctuation dropped, spaces to
  hyphens);
- Rust paths into our crates (`storage::scan`, `session::store::refused_batch`,
  `connection::Connection::next_frame`, with or without `crate::` or `tp0::`): each module
  segment is a module file, the first item after them is defined or re-exported in that module,
  and each segment after that item (a method, variant or field) is defined somewhere in the
  crate.

Prints each missing name with its document and line, and exits 1 if there is any; exit 0 and one
summary line otherwise. Python 3 standard library only; run from anywhere.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

REPO_DIRS = "src|coordinator|tests|docker|bench|server|client|fuzz|examples|docs"
# A repository path starts a word: not after a letter, '/', '.', '~' or '-' (so `/server`,
# `../shared/...` and URLs are left alone).
REPO_PATH = re.compile(r"(?<![\w./~-])((?:%s)/[\w./-]*)" % REPO_DIRS)
LINK = re.compile(r"\]\(([^)\s]+)\)")
MODULES = "domain|protocol|rows|logging|config|connection|storage|session|parent|coordinator|client"
RUST_PATH = re.compile(r"(?<![\w:])(?:(?:crate|tp0)::)?((?:%s)(?:::[A-Za-z_]\w*)+)" % MODULES)


def documents():
    yield ROOT / "README.md"
    yield from sorted((ROOT / "docs").glob("*.md"))


def slugs(doc):
    """The anchors GitHub gives the headings of `doc`."""
    found = set()
    seen = {}
    in_code_block = False
    for line in doc.read_text().splitlines():
        if line.lstrip().startswith("```"):
            in_code_block = not in_code_block
        if in_code_block or not re.match(r"#{1,6} ", line):
            continue
        text = line.lstrip("#").strip().lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def module_file(directory, name):
    for candidate in (directory / f"{name}.rs", directory / name / "mod.rs"):
        if candidate.is_file():
            return candidate
    return None


def children_dir(file):
    """Where the submodules of the module in `file` live."""
    if file.name in ("mod.rs", "lib.rs", "main.rs"):
        return file.parent
    return file.parent / file.stem


def without_comments(text):
    return re.sub(r"//.*", "", text)


def defines(text, name):
    """Whether a module's source defines or re-exports `name`."""
    n = re.escape(name)
    definition = rf"\b(?:fn|struct|enum|trait|type|const|static|mod|union)\s+{n}\b|macro_rules!\s*{n}\b"
    if re.search(definition, text):
        return True
    reexport = rf"\bpub(?:\([^)]*\))?\s+use\s+[^;]*\b{n}\b[^;]*;"
    return re.search(reexport, text, re.S) is not None


def member_defined(sources, name):
    """Whether `name` is a method, associated item, enum variant or field somewhere."""
    n = re.escape(name)
    item = rf"\b(?:fn|const|type)\s+{n}\b"
    variant_or_field = rf"(?m)^\s*(?:pub(?:\([^)]*\))?\s+)?{n}\s*(?:[({{,:]|$)"
    return any(re.search(item, text) or re.search(variant_or_field, text) for text in sources)


def crate_sources(root_file):
    base = root_file.parent if root_file.name in ("lib.rs", "mod.rs") else root_file.parent
    while base.name != "src":
        base = base.parent
    return [without_comments(p.read_text()) for p in base.rglob("*.rs")]


def resolve(root_file, segments):
    """Whether `segments` (after the crate root module) name something in `root_file`'s tree."""
    file = root_file
    rest = list(segments)
    while rest:
        text = without_comments(file.read_text())
        name = rest[0]
        sub = module_file(children_dir(file), name)
        if sub is not None and re.search(rf"\bmod\s+{re.escape(name)}\b", text):
            file = sub
            rest.pop(0)
            continue
        if not defines(text, name):
            return False
        rest.pop(0)
        sources = crate_sources(root_file)
        return all(member_defined(sources, member) for member in rest)
    return True


def rust_path_exists(path):
    first, *rest = path.split("::")
    roots = [module_file(ROOT / "src", first)]
    if first == "coordinator":
        # The server's coordinator module (src/coordinator/) or the rules' crate (coordinator/).
        roots.append(ROOT / "coordinator" / "src" / "lib.rs")
    return any(root is not None and root.is_file() and resolve(root, rest) for root in roots)


def check(doc):
    missing = []
    in_code_block = False
    for number, line in enumerate(doc.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_code_block = not in_code_block
        for match in REPO_PATH.finditer(line):
            path = match.group(1).rstrip(".,:;")
            if not (ROOT / path).exists():
                missing.append((number, "path", path))
        if not in_code_block:
            for match in LINK.finditer(line):
                target, _, anchor = match.group(1).partition("#")
                if re.match(r"[a-z]+:", target):
                    continue
                linked = doc.parent / target if target else doc
                if not linked.exists():
                    missing.append((number, "link", match.group(1)))
                elif anchor and linked.suffix == ".md" and anchor not in slugs(linked):
                    missing.append((number, "anchor", match.group(1)))
        for match in RUST_PATH.finditer(line):
            if not rust_path_exists(match.group(1)):
                missing.append((number, "rust path", match.group(1)))
    return missing


def main():
    failures = 0
    names = 0
    for doc in documents():
        for number, kind, name in check(doc):
            print(f"{doc.relative_to(ROOT)}:{number}: missing {kind}: {name}")
            failures += 1
        text = doc.read_text()
        names += sum(len(p.findall(text)) for p in (REPO_PATH, LINK, RUST_PATH))
    if failures:
        print(f"doc-paths: {failures} missing", file=sys.stderr)
        return 1
    print(f"doc-paths: {names} names in README.md and docs/*.md, all present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
