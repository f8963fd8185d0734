#!/usr/bin/env python3
"""Write a throw-away Go wrapper module that can build a program whose go.mod has replace directives.

`go install module@version` refuses modules with replace directives. A wrapper module requires the
program's module and restates its replaces: version replaces are copied, local path replaces
(`=> ./api`, `=> ./staging/src/k8s.io/x`, `=> ../client/v3`) are mapped to the published version of
that sibling module.

The module proxy here does not serve every version of every module (it answers 403 "not
available" for some). When the build needs such a version, the wrapper pins the nearest lower
version that is served and says so; test-only dependencies of the program are not needed at all.

Usage: gowrapper.py DIR MODULE VERSION MAIN_PACKAGE OUTPUT LDFLAGS [LOCAL_MODULE_COPY]
"""
import json
import os
import re
import subprocess
import sys


def published_version(module: str, version: str, replaced: str) -> str:
    # k8s.io/kubernetes v1.X.Y publishes its staging modules as v0.X.Y.
    if module == "k8s.io/kubernetes" and replaced.startswith("k8s.io/"):
        return "v0" + version[2:]
    return version


def parse_replaces(gomod: str):
    text = re.sub(r"//[^\n]*", "", gomod)
    lines = []
    for block in re.findall(r"^replace\s*\((.*?)^\)", text, flags=re.S | re.M):
        lines += block.splitlines()
    lines += [m for m in re.findall(r"^replace\s+([^(\n].*)$", text, flags=re.M)]
    out = []
    for line in lines:
        line = line.strip()
        if "=>" not in line:
            continue
        left, right = [part.split() for part in line.split("=>", 1)]
        out.append((left[0], right))
    return out


def go(args, cwd):
    print("+ go " + " ".join(args), flush=True)
    proc = subprocess.run(["go"] + args, cwd=cwd, capture_output=True, text=True)
    print(proc.stdout + proc.stderr, flush=True)
    return proc.returncode, proc.stdout + proc.stderr


def served(module: str, version: str, cwd: str) -> bool:
    proc = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"], cwd=cwd,
                          capture_output=True, text=True)
    return proc.returncode == 0 and '"Error"' not in proc.stdout


def semver_key(v: str):
    core = v.lstrip("v").split("-")[0].split("+")[0]
    return tuple(int(x) if x.isdigit() else 0 for x in core.split("."))


def nearest_served_lower(module: str, version: str, cwd: str):
    proc = subprocess.run(["go", "list", "-m", "-versions", module], cwd=cwd, capture_output=True, text=True)
    listed = proc.stdout.split()[1:] if proc.returncode == 0 else []
    candidates = sorted((v for v in listed if semver_key(v) < semver_key(version)), key=semver_key, reverse=True)
    if not candidates:
        major, minor, patch = (list(semver_key(version)) + [0, 0, 0])[:3]
        candidates = [f"v{major}.{minor}.{p}" for p in range(patch - 1, -1, -1)]
    for candidate in candidates[:12]:
        if served(module, candidate, cwd):
            return candidate
    return None


def build(wrapper_dir: str, main_pkg: str, output: str, ldflags: str) -> None:
    pinned = set()
    for _ in range(15):
        # -e: test-only dependencies of the program may be unavailable; they are not built.
        go(["mod", "tidy", "-e"], wrapper_dir)
        code, out = go(["build", "-trimpath", "-ldflags", ldflags, "-o", output, main_pkg], wrapper_dir)
        if code == 0:
            return
        missing = set(re.findall(r"(\S+)@(v[^:\s]+): reading \S+: (?:403 Forbidden|404 Not Found)", out))
        missing = {m for m in missing if m not in pinned}
        if not missing:
            sys.exit(f"go build failed for {main_pkg}")
        for module, version in sorted(missing):
            lower = nearest_served_lower(module, version, wrapper_dir)
            if lower is None:
                sys.exit(f"{module}@{version} is not served and no lower version is either")
            print(f"NOTE: {module}@{version} is not served by the module proxy; pinning {lower}", flush=True)
            with open(os.path.join(wrapper_dir, "go.mod"), "a", encoding="utf-8") as f:
                f.write(f"replace {module} => {module} {lower}\n")
            pinned.add((module, version))
    sys.exit("too many unavailable module versions")


def main() -> None:
    wrapper_dir, module, version, main_pkg, output, ldflags = sys.argv[1:7]
    # An optional local copy of the program's module (a test-bed patch, see hack/testbed/install).
    local_copy = sys.argv[7] if len(sys.argv) > 7 else ""
    info = json.loads(subprocess.check_output(["go", "mod", "download", "-json", f"{module}@{version}"]))
    with open(info["GoMod"], encoding="utf-8") as f:
        gomod = f.read()
    go_line = re.search(r"^go\s+(\S+)", gomod, flags=re.M).group(1)
    replaces = []
    for old, target in parse_replaces(gomod):
        if target[0].startswith("."):
            if "FORBIDDEN_DEPENDENCY" in target[0]:
                continue
            replaces.append(f"{old} => {old} {published_version(module, version, old)}")
        else:
            replaces.append(f"{old} => {' '.join(target)}")
    os.makedirs(wrapper_dir, exist_ok=True)
    name = os.path.basename(wrapper_dir.rstrip("/"))
    with open(os.path.join(wrapper_dir, "go.mod"), "w", encoding="utf-8") as f:
        f.write(f"module testbed/{name}\n\ngo {go_line}\n\nrequire {module} {version}\n\n")
        for r in replaces:
            f.write(f"replace {r}\n")
    with open(os.path.join(wrapper_dir, "tools.go"), "w", encoding="utf-8") as f:
        f.write(f'//go:build tools\n\npackage tools\n\nimport _ "{main_pkg}"\n')
    if local_copy:
        with open(os.path.join(wrapper_dir, "go.mod"), "a", encoding="utf-8") as f:
            f.write(f"replace {module} => {local_copy}\n")
    build(wrapper_dir, main_pkg, output, ldflags)


if __name__ == "__main__":
    main()
