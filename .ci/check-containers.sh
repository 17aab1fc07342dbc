#!/usr/bin/env bash
# Static checks of the container files, for a CI without a container engine:
#
#   - every FROM in the Dockerfile and every image in the compose file(s) and
#     in the GitHub workflows names its registry (docker.io/library/postgres,
#     not postgres) and a tag other than `latest` (or a digest); the only
#     exception is a compose image built on the spot (it has `build:`);
#   - the Dockerfile uses only flags that Docker (BuildKit) and Podman/Buildah
#     both accept (for example no HEALTHCHECK --start-interval, Docker 25+);
#   - the Dockerfile's final stage runs as a numeric, non-root USER;
#   - every port the compose file publishes is bound to 127.0.0.1;
#   - .schemathesis/ (a tool cache) is not tracked by git and is ignored.
#
# Then a self-test: the same checks run on deliberately broken copies of
# these files and must refuse every one of them, so a checker that cannot
# fail fails here.
#
# Usage: bash .ci/check-containers.sh            checks + self-test
#        bash .ci/check-containers.sh --check DIR  checks of DIR only
set -euo pipefail
cd "$(dirname "$0")/.."

# check ROOT [--quiet]: prints one line per check, exits 1 if any failed.
check() {
  python3 - "$@" <<'PY'
import glob, os, re, subprocess, sys

root = sys.argv[1]
quiet = "--quiet" in sys.argv[2:]
results = []


def report(ok, where, what):
    results.append((ok, where, what))


def image_problem(ref):
    """Why an image reference is not fully qualified and pinned, or None."""
    name, _, digest = ref.partition("@")
    parts = name.split("/")
    first = parts[0]
    if len(parts) < 2 or not ("." in first or ":" in first or first == "localhost"):
        return "not fully qualified: name the registry (docker.io/library/NAME, quay.io/…)"
    last = parts[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else None
    if digest:
        return None if digest.startswith("sha256:") else "malformed digest"
    if tag is None:
        return "no tag: pin a version"
    if tag == "" or tag == "latest":
        return f"tag '{tag}': pin a version"
    return None


def substitute(text, args):
    """${NAME}, ${NAME:-default} and $NAME from ARG defaults; None if unknown."""
    unknown = []

    def repl(m):
        name = m.group(1) or m.group(3)
        default = m.group(2)
        if name in args and args[name] != "":
            return args[name]
        if default is not None:
            return default
        unknown.append(name)
        return ""

    out = re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)", repl, text)
    return None if unknown else out


# ------------------------------------------------------------- Dockerfile --
# Flags every builder in use accepts: Docker with BuildKit (23+), Podman 4+
# and Buildah 1.24+ (RUN --mount=type=cache|bind|tmpfs).
ALLOWED_FLAGS = {
    "FROM": {"--platform"},
    "RUN": {"--mount"},
    "COPY": {"--from", "--chown"},
    "ADD": {"--chown"},
    "HEALTHCHECK": {"--interval", "--timeout", "--start-period", "--retries"},
}
NOTES = {
    "--start-interval": "Docker 25+ only; Podman/Buildah refuse it",
    "--link": "BuildKit only",
    "--chmod": "not in older Buildah",
    "--parents": "BuildKit labs syntax only",
    "--exclude": "BuildKit 1.19+ only",
    "--checksum": "BuildKit only",
    "--keep-git-dir": "BuildKit only",
    "--network": "BuildKit only",
    "--security": "BuildKit labs syntax only",
}


def logical_lines(text):
    """(first line number, instruction) with continuations joined."""
    out, buf, start = [], "", None
    for n, line in enumerate(text.split("\n"), 1):
        s = line.strip()
        if s.startswith("#") or (not s and not buf):
            continue
        if start is None:
            start = n
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        if buf.strip():
            out.append((start, buf.strip()))
        buf, start = "", None
    if buf.strip():
        out.append((start, buf.strip()))
    return out


def check_dockerfile(path):
    rel = os.path.relpath(path, root)
    text = open(path, encoding="utf-8").read()
    args, stages, final_user = {}, set(), None
    seen_from = False
    flags_ok = True
    for n, line in logical_lines(text):
        where = f"{rel}:{n}"
        instr, _, rest = line.partition(" ")
        instr = instr.upper()
        tokens = rest.split()
        flags = []
        for tok in tokens:
            if not tok.startswith("--"):
                break
            flags.append(tok)
        for flag in flags:
            name = flag.split("=", 1)[0]
            if name not in ALLOWED_FLAGS.get(instr, set()):
                note = NOTES.get(name, "not accepted by every builder")
                report(False, where, f"{instr} {name}: {note}")
                flags_ok = False
            elif name == "--mount":
                opts = dict(
                    kv.split("=", 1) if "=" in kv else (kv, "")
                    for kv in flag.split("=", 1)[1].split(",")
                )
                if opts.get("type", "bind") not in {"cache", "bind", "tmpfs"}:
                    report(False, where, f"RUN {flag}: only cache, bind and tmpfs mounts work in Buildah")
                    flags_ok = False
        if re.search(r"<<-?\s*['\"]?[A-Za-z_]", rest) and instr in {"RUN", "COPY", "ADD"}:
            report(False, where, f"{instr} with a heredoc: BuildKit 1.4+/Buildah 1.33+ only")
            flags_ok = False
        if instr == "ARG" and not seen_from:
            name, _, default = tokens[0].partition("=") if tokens else ("", "", "")
            args[name] = default.strip("\"'")
        elif instr == "FROM":
            seen_from = True
            words = [t for t in tokens if not t.startswith("--")]
            image = words[0] if words else ""
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.add(words[2].lower())
            final_user = None
            if image.lower() in stages or image == "scratch":
                report(True, where, f"FROM {image} (an earlier stage)")
                continue
            resolved = substitute(image, args)
            if resolved is None:
                report(False, where, f"FROM {image}: a variable without an ARG default")
                continue
            problem = image_problem(resolved)
            shown = resolved if resolved == image else f"{image} = {resolved}"
            report(problem is None, where, f"FROM {shown}" + (f": {problem}" if problem else ", qualified and tagged"))
        elif instr == "USER":
            final_user = (where, rest.strip())
    if flags_ok:
        report(True, rel, "only flags that Docker (BuildKit), Podman and Buildah all accept")
    if final_user is None:
        report(False, rel, "final stage has no USER: add USER <uid>:<gid> (numeric, not 0)")
    else:
        where, user = final_user
        m = re.fullmatch(r"(\d+)(?::(\d+))?", user)
        if not m:
            report(False, where, f"USER {user}: use a numeric uid (Kubernetes runAsNonRoot checks numbers)")
        elif int(m.group(1)) == 0:
            report(False, where, f"USER {user}: root")
        else:
            report(True, where, f"final stage USER {user}: numeric, not root")


# ---------------------------------------------------------------- compose --
def strip_comment(line):
    quote = None
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def unquote(s):
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    return s


def check_port(where, block, spec):
    spec = unquote(spec)
    host = spec.rsplit(":", 2)[0] if spec.count(":") >= 2 else None
    if host == "127.0.0.1":
        report(True, where, f"{block}: port {spec} bound to loopback")
    else:
        report(False, where, f"{block}: port {spec} is published on every interface: write \"127.0.0.1:{spec}\"")


def check_compose(path):
    first_result = len(results)
    rel = os.path.relpath(path, root)
    lines = open(path, encoding="utf-8").read().split("\n")
    blocks = {}  # block -> {"image": (where, ref), "build": bool}
    section = block = None
    child_indent = None
    ports_indent = None
    long_port = None  # [where, host_ip or None, dash indent]

    def end_long_port():
        nonlocal long_port
        if long_port:
            where, host_ip, _ = long_port
            if host_ip == "127.0.0.1":
                report(True, where, f"{block}: port (long syntax) bound to loopback")
            else:
                report(False, where, f"{block}: port (long syntax) without host_ip: 127.0.0.1")
        long_port = None

    for n, raw in enumerate(lines, 1):
        line = strip_comment(raw)
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        s = line.strip()
        where = f"{rel}:{n}"
        if ports_indent is not None and indent <= ports_indent:
            end_long_port()
            ports_indent = None
        if indent == 0:
            section = s.split(":", 1)[0]
            block = section if section.startswith("x-") else None
            child_indent = None
            continue
        if section == "services":
            if child_indent is None:
                child_indent = indent
            if indent == child_indent:
                block = "service " + s.split(":", 1)[0]
                continue
        if block is None:
            continue
        info = blocks.setdefault(block, {"image": None, "build": False})
        if ports_indent is not None:
            item = re.match(r"-\s*(.*)$", s)
            if item:
                end_long_port()
                body = item.group(1)
                kv = re.match(r"([\w.]+)\s*:\s*(.*)$", body)
                if kv and not re.match(r"^\d", body):
                    long_port = [where, None, indent]
                    if kv.group(1) == "host_ip":
                        long_port[1] = unquote(kv.group(2))
                else:
                    check_port(where, block, body)
            elif long_port:
                kv = re.match(r"([\w.]+)\s*:\s*(.*)$", s)
                if kv and kv.group(1) == "host_ip":
                    long_port[1] = unquote(kv.group(2))
            continue
        m = re.match(r"(image|build|ports|network_mode)\s*:\s*(.*)$", s)
        if not m:
            continue
        key, value = m.group(1), m.group(2).strip()
        if key == "image":
            info["image"] = (where, unquote(value))
        elif key == "build":
            info["build"] = True
        elif key == "network_mode" and unquote(value) == "host":
            report(False, where, f"{block}: network_mode host publishes every port on every interface")
        elif key == "ports":
            if value.startswith("["):
                for spec in value.strip("[]").split(","):
                    if spec.strip():
                        check_port(where, block, spec)
            else:
                ports_indent = indent
    end_long_port()

    for block, info in blocks.items():
        if not info["image"]:
            continue
        where, ref = info["image"]
        resolved = substitute(ref, {})
        if resolved is None:
            report(False, where, f"{block}: image {ref}: a variable without a default")
            continue
        problem = image_problem(resolved)
        local_name, _, tag = resolved.partition(":")
        if problem and info["build"] and "/" not in local_name and tag not in ("", "latest"):
            report(True, where, f"{block}: image {resolved} is built here (build:), tagged")
        elif problem:
            report(False, where, f"{block}: image {resolved}: {problem}")
        else:
            report(True, where, f"{block}: image {resolved}, qualified and tagged")
    # In file order.
    results[first_result:] = sorted(results[first_result:], key=lambda r: int(r[1].rsplit(":", 1)[1]))


# ------------------------------------------------- GitHub workflow images --
def check_workflow(path):
    rel = os.path.relpath(path, root)
    for n, raw in enumerate(open(path, encoding="utf-8").read().split("\n"), 1):
        m = re.match(r"\s*image\s*:\s*(\S.*)$", strip_comment(raw))
        if not m:
            continue
        ref = unquote(m.group(1))
        problem = image_problem(ref)
        report(problem is None, f"{rel}:{n}", f"service image {ref}" + (f": {problem}" if problem else ", qualified and tagged"))


# ------------------------------------------------------------- tool cache --
def check_tool_cache():
    def git(*a):
        return subprocess.run(["git", "-C", root, *a], capture_output=True, text=True)

    if git("rev-parse", "--is-inside-work-tree").returncode != 0:
        report(False, ".schemathesis/", "not a git work tree: cannot check what is tracked")
        return
    tracked = git("ls-files", "--", ".schemathesis").stdout.split()
    if tracked:
        count = f"{len(tracked)} file" + ("s" if len(tracked) > 1 else "")
        report(False, ".schemathesis/", f"tracked by git ({count}): git rm -r --cached .schemathesis")
    else:
        report(True, ".schemathesis/", "not tracked by git")
    if git("check-ignore", "-q", "--no-index", ".schemathesis/cache").returncode == 0:
        report(True, ".gitignore", ".schemathesis/ is ignored")
    else:
        report(False, ".gitignore", ".schemathesis/ is not ignored: add it to .gitignore")


dockerfile = os.path.join(root, "Dockerfile")
if os.path.exists(dockerfile):
    check_dockerfile(dockerfile)
else:
    report(False, "Dockerfile", "missing")
composes = [
    p for name in ("docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml")
    for p in [os.path.join(root, name)] if os.path.exists(p)
]
if not composes:
    report(False, "docker-compose.yml", "missing")
for p in composes:
    check_compose(p)
for p in sorted(glob.glob(os.path.join(root, ".github", "workflows", "*.y*ml"))):
    check_workflow(p)
check_tool_cache()

failed = [r for r in results if not r[0]]
for ok, where, what in results:
    if not quiet or not ok:
        print(f"{'ok  ' if ok else 'FAIL'}  {where}  {what}")
if not quiet:
    if failed:
        print(f"container files: {len(failed)} of {len(results)} checks FAILED")
    else:
        print(f"container files: all {len(results)} checks hold")
sys.exit(1 if failed else 0)
PY
}

# mutate FILE PYTHON-EXPRESSION: rewrites FILE as the expression computes
# from its text `t`; a mutation that changes nothing is an error.
mutate() {
  python3 - "$1" "$2" <<'PY'
import re, sys
path, code = sys.argv[1], sys.argv[2]
t = open(path, encoding="utf-8").read()
new = eval(code, {"re": re, "t": t})
if new == t:
    sys.exit(f"self-test: mutation changed nothing in {path}: {code}")
open(path, "w", encoding="utf-8").write(new)
PY
}

self_test() {
  local tmp n=0 missed=0
  tmp=$(mktemp -d)
  # Copies of the checked files in a fresh git work tree.
  fresh() {
    local dir="$tmp/$1"
    mkdir -p "$dir/.github/workflows"
    cp Dockerfile docker-compose.yml .gitignore "$dir/"
    cp .github/workflows/*.yml "$dir/.github/workflows/"
    git -c init.defaultBranch=main -C "$dir" init -q
    echo "$dir"
  }
  # expect_refused NAME EXPECTED-TEXT FILE MUTATION
  expect_refused() {
    local name=$1 expected=$2 file=$3 code=$4 dir out
    dir=$(fresh "$name")
    mutate "$dir/$file" "$code"
    n=$((n + 1))
    if out=$(check "$dir" --quiet 2>&1); then
      echo "MISSED  $name: the checker accepted it"
      missed=$((missed + 1))
    elif ! grep -qF -- "$expected" <<<"$out"; then
      echo "MISSED  $name: refused, but not for '$expected':"
      echo "$out" | sed 's/^/        /'
      missed=$((missed + 1))
    else
      echo "caught  $name: $(grep -F -- "$expected" <<<"$out" | head -n 1 | sed 's/^FAIL  //')"
    fi
  }

  echo "== self-test: the checker refuses broken copies"
  local dir
  dir=$(fresh unchanged)
  if check "$dir" --quiet >/dev/null 2>&1; then
    echo "ok      an unchanged copy passes"
  else
    echo "MISSED  an unchanged copy fails:"; check "$dir" --quiet | sed 's/^/        /'
    missed=$((missed + 1))
  fi

  # The first FROM with another image (the stage name stays).
  first_from() { printf 're.sub(r"(?m)^FROM \\S+", "FROM %s", t, count=1)' "$1"; }
  expect_refused "FROM rust:latest" "not fully qualified" Dockerfile "$(first_from rust:latest)"
  expect_refused "FROM without a tag" "no tag" Dockerfile "$(first_from docker.io/library/rust)"
  expect_refused "FROM …:latest" "tag 'latest'" Dockerfile "$(first_from docker.io/library/rust:latest)"
  expect_refused "HEALTHCHECK --start-interval" "--start-interval" Dockerfile \
    't.replace("HEALTHCHECK --interval", "HEALTHCHECK --start-interval=2s --interval")'
  expect_refused "COPY --link" "--link" Dockerfile 't.replace("COPY --from=", "COPY --link --from=", 1)'
  expect_refused "USER by name" "numeric uid" Dockerfile 're.sub(r"(?m)^USER .*$", "USER nonroot", t)'
  expect_refused "USER root" "USER 0:0: root" Dockerfile 're.sub(r"(?m)^USER .*$", "USER 0:0", t)'
  expect_refused "no USER" "no USER" Dockerfile 're.sub(r"(?m)^USER .*\n", "", t)'
  expect_refused "compose port 8000:8000" "every interface" docker-compose.yml \
    't.replace("\"127.0.0.1:8000:8000\"", "\"8000:8000\"")'
  expect_refused "compose port, long syntax" "without host_ip" docker-compose.yml \
    't.replace("- \"127.0.0.1:8025:8025\"", "- target: 8025\n        published: 8025")'
  expect_refused "compose image without registry" "not fully qualified" docker-compose.yml \
    're.sub(r"image: docker\.io/library/", "image: ", t, count=1)'
  expect_refused "compose image minio/minio" "not fully qualified" docker-compose.yml \
    're.sub(r"image: docker\.io/\S+", "image: minio/minio", t, count=1)'
  expect_refused "compose image :latest" "tag 'latest'" docker-compose.yml \
    're.sub(r"(image: docker\.io/[^:\s]+):\S+", r"\1:latest", t, count=1)'
  expect_refused "local image without build" "user-management:local: not fully qualified" docker-compose.yml \
    're.sub(r"(?m)^  build:\n(    .*\n)*", "", t)'
  expect_refused "workflow service image postgres:16" "not fully qualified" .github/workflows/ci.yml \
    're.sub(r"image: docker\.io/library/(\S+)", r"image: \1", t, count=1)'

  n=$((n + 1))
  dir=$(fresh "tracked tool cache")
  mkdir -p "$dir/.schemathesis" && echo '{}' >"$dir/.schemathesis/manifest.json"
  git -C "$dir" add -f .schemathesis/manifest.json
  if out=$(check "$dir" --quiet 2>&1) || ! grep -qF "tracked by git" <<<"$out"; then
    echo "MISSED  tracked .schemathesis/"; missed=$((missed + 1))
  else
    echo "caught  tracked .schemathesis/: $(grep -F "tracked by git" <<<"$out" | sed 's/^FAIL  //')"
  fi
  expect_refused ".schemathesis/ not ignored" "is not ignored" .gitignore 're.sub(r"(?m)^/?\.schemathesis/?\n", "", t)'

  rm -rf "$tmp"
  if [ "$missed" -ne 0 ]; then
    echo "self-test: $missed of $n broken copies were not refused"
    return 1
  fi
  echo "self-test: all $n broken copies refused"
}

case "${1:-}" in
  --check) check "${2:?--check DIR}" ;;
  "")
    echo "== container files (static checks: no container engine here)"
    check .
    self_test
    ;;
  *) echo "usage: $0 [--check DIR]" >&2; exit 2 ;;
esac
