#!/usr/bin/env python3
"""Checks that tools/debian-packages.txt names every Debian package the configure step depends on.

Why: Debian's qt6-charts-dev does not depend on libqt6opengl6-dev although Qt6Charts' CMake config needs
Qt6OpenGL; a machine that happens to have the package configures fine, a brand-new one does not. This check
reads what CMake actually found in a build tree (CMakeCache.txt): every package config directory
(`<Name>_DIR`), every pkg-config library (`pkgcfg_lib_*`) and the libraries Qt's find modules located, maps
each file to the Debian package that ships it (`dpkg -S`), and fails when that package is neither listed nor
pulled in by the hard dependencies (Depends, Pre-Depends) of a listed package. Recommends do not count:
tools/setup.sh installs with --no-install-recommends.

Usage: check_packages.py --cache BUILD/CMakeCache.txt [--list tools/debian-packages.txt] [--stages build,test]
Exit 0: all covered; 1: a package is missing from the list (each named); 77: not a Debian system (skipped).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

# Libraries that CMake's FindOpenGL (called by Qt's WrapOpenGL) or Qt probe for but do not require: found or
# not, configure succeeds, so they are not a reason to install anything.
OPTIONAL_PROBES = re.compile(r"^(OPENGL_(glu|egl|xmesa)_|Vulkan_|OPENGL_(EGL|GLX|xmesa)_INCLUDE)")


def read_list(path, stages):
    packages = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) < 2:
                sys.exit(f"{path}: line '{line.strip()}': expected 'package stage feature'")
            if fields[1] in stages:
                packages.append(fields[0])
    return packages


def readme_packages(path):
    """Package names in the README's 'feature | Debian packages' table (so it cannot drift from the list)."""
    names, in_table = set(), False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("| feature | Debian packages |"):
                in_table = True
            elif in_table and not line.startswith("|"):
                break
            elif in_table:
                for cell in re.findall(r"`([^`]*)`", line.split("|")[2] if line.count("|") >= 3 else ""):
                    names.update(cell.split())
    return names


def found_files(cache_path):
    """(cache variable, file) pairs for what the configure step found and uses."""
    files = []
    with open(cache_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.match(r"^([A-Za-z0-9_.+-]+):(PATH|FILEPATH)=(.*)$", line.strip())
            if not m:
                continue
            name, kind, value = m.groups()
            if not value or value.endswith("-NOTFOUND") or OPTIONAL_PROBES.match(name):
                continue
            if kind == "PATH" and name.endswith("_DIR") and os.path.isdir(value):
                package = name[: -len("_DIR")]
                candidates = [f"{package}Config.cmake", f"{package.lower()}-config.cmake"]
                for c in candidates:
                    if os.path.isfile(os.path.join(value, c)):
                        files.append((name, os.path.join(value, c)))
                        break
            elif kind == "FILEPATH" and (name.startswith("pkgcfg_lib_") or name.endswith("_LIBRARY")):
                if os.path.isfile(value) and not name.startswith("OpenMP_"):
                    # OpenMP's libgomp and libpthread come with the compiler (g++) and libc.
                    files.append((name, value))
    return files


def owners(paths):
    """path -> the Debian package that ships it (None if none), in one dpkg call. A -dev package's .so is
    often a symlink, and merged /usr means dpkg may know a file as /lib/... instead of /usr/lib/..."""
    variants = {}
    for path in paths:
        names = [path, os.path.realpath(path)]
        names += [n[4:] for n in names if n.startswith("/usr/lib/")]
        variants[path] = names
    queried = sorted({n for names in variants.values() for n in names})
    out = subprocess.run(["dpkg", "-S"] + queried, capture_output=True, text=True)
    shipped = {}
    for line in out.stdout.splitlines():
        package, _, file = line.partition(": ")
        if file and not package.startswith("diversion"):
            shipped[file.strip()] = package.split(",")[0].split(":")[0].strip()
    return {path: next((shipped[n] for n in names if n in shipped), None) for path, names in variants.items()}


def installed_graph():
    """name -> list of dependency alternatives (each a list of names); provides: virtual -> real names."""
    fmt = "${Package}\t${db:Status-Abbrev}\t${Provides}\t${Depends}\t${Pre-Depends}\n"
    out = subprocess.run(["dpkg-query", "-W", "-f=" + fmt], capture_output=True, text=True, check=True)
    deps, provides = {}, {}

    def names(field):
        groups = []
        for group in filter(None, (g.strip() for g in field.split(","))):
            alts = [re.sub(r"[\s(:].*$", "", a.strip()) for a in group.split("|")]
            groups.append([a for a in alts if a])
        return groups

    for line in out.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) < 5 or not parts[1].startswith("ii"):
            continue
        name = parts[0]
        deps[name] = names(parts[3]) + names(parts[4])
        for group in names(parts[2]):
            for virtual in group:
                provides.setdefault(virtual, []).append(name)
    return deps, provides


def closure(roots, deps, provides):
    seen, stack = set(), list(roots)
    while stack:
        name = stack.pop()
        for real in [name] + provides.get(name, []):
            if real in seen or real not in deps:
                continue
            seen.add(real)
            for group in deps[real]:
                # Any installed alternative satisfies the group; follow all of them (they are installed).
                stack.extend(group)
    return seen


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--cache", required=True, help="a configured build tree's CMakeCache.txt")
    parser.add_argument("--list", default=os.path.join(here, "debian-packages.txt"))
    parser.add_argument("--stages", default="build,test")
    parser.add_argument("--readme", help="also check that this README's package table names the same packages")
    args = parser.parse_args()

    if not shutil.which("dpkg-query") or not shutil.which("dpkg"):
        print("not a Debian system (no dpkg): skipped")
        return 77
    if not os.path.isfile(args.cache):
        print(f"{args.cache}: no such file (configure the build first)", file=sys.stderr)
        return 2
    listed = read_list(args.list, set(args.stages.split(",")))
    deps, provides = installed_graph()
    not_installed = [p for p in listed if p not in deps]
    covered = closure(listed, deps, provides)

    problems = []
    found = found_files(args.cache)
    shipped_by = owners([path for _, path in found])
    for variable, path in found:
        package = shipped_by[path]
        if package is None:
            problems.append(f"{path} ({variable}) belongs to no Debian package: built by hand? "
                            "A brand-new Debian 12 machine will not have it")
        elif package not in covered:
            problems.append(f"{path} ({variable}) is shipped by '{package}', which is neither in {args.list} "
                            "nor a hard dependency of a package in it")
        else:
            print(f"ok  {package:28s} {path}")
    if args.readme:
        in_readme = readme_packages(args.readme)
        every = set(read_list(args.list, {"build", "test"}))
        if not in_readme:
            problems.append(f"{args.readme}: no '| feature | Debian packages |' table found")
        for p in sorted(every - in_readme):
            problems.append(f"{args.readme}: the package table does not name '{p}' (listed in {args.list})")
        for p in sorted(in_readme - every):
            problems.append(f"{args.readme}: the package table names '{p}', which {args.list} does not list")
    for p in not_installed:
        print(f"note: listed package '{p}' is not installed here (its dependencies were not followed)")
    for p in problems:
        print("MISSING: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
