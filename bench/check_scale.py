#!/usr/bin/env python3
"""`seal check` at scale: 10,000 and 100,000 files, against the floor of reading them.

    bench/check_scale.py [--seal PATH ...] [--sizes 10000,100000] [--runs 7] [--keep DIR]

Generates the GitOps repository of bench/compare.py (`gitops_repo`: a real git work tree,
10 clusters, one encrypted Secret in ten files, four violations) at each size in a
temporary directory, and times, interleaved in the same run so that the machine's load
hits every variant alike:
- each `--seal` binary (give two to compare a before and an after build), `seal check -q`;
- the floor: `find . -type f -not -path './.git/*' -print0 | xargs -0 -P2 cat >/dev/null`.
Reported: median wall time (min-max), median CPU time (user + system) and the peak RSS, per
variant and size, and the load average. Each binary must find the four violations and
nothing in the encrypted Secrets. The repositories are deleted at the end, unless `--keep
DIR` names where to keep them (a later run with the same DIR reuses them; delete it when
done).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (the generator is shared with the main bench)


def timed(cmd, env, cwd, shell=False):
    """(wall s, cpu s, max RSS KiB) of one run; exit 0 or 1 is fine."""
    full = ["/usr/bin/time", "-f", "%M %U %S"] + (["sh", "-c", cmd] if shell else cmd)
    t0 = time.perf_counter()
    p = subprocess.run(full, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    err = p.stderr.decode(errors="replace")
    if p.returncode not in (0, 1):
        sys.exit(f"failed ({p.returncode}): {cmd}\n{err[-800:]}")
    mem, user, system = err.strip().splitlines()[-1].split()
    return dt, float(user) + float(system), int(mem)


def verify(seal, env, repo, violations):
    p = subprocess.run([seal, "check", "-f", "json"], env=env, cwd=repo, capture_output=True, text=True)
    rep = json.loads(p.stdout)
    paths = {f.get("path") for f in rep.get("findings", [])}
    missing = [v for v in violations if v not in paths]
    extra = [q for q in paths if q and "/secret-" in q and q not in violations]
    if p.returncode != 1 or missing or extra:
        sys.exit(f"{seal}: exit {p.returncode}, missed {missing}, findings in encrypted Secrets {extra}")
    return rep["summary"]["files_checked"] if "summary" in rep else None


BASE = 10000


def replicate(base, sub, k):
    """The repository of `base` with each cluster's files copied k - 1 more times into
    clusters/cNN/rK/ (so the same creation rules match them): the same mix of files and violations at k times the size, without
    encrypting k times as many Secrets (a sops file's MAC does not bind its path)."""
    with open(os.path.join(base, "generated.json")) as f:
        repo0, files0, violations0 = json.load(f)
    shutil.rmtree(sub, ignore_errors=True)
    os.makedirs(sub)
    repo = os.path.join(sub, "gitops")
    shutil.copytree(repo0, repo, symlinks=True)
    files, violations = list(files0), list(violations0)
    for r in range(1, k):
        for c in sorted(os.listdir(os.path.join(repo0, "clusters"))):
            shutil.copytree(os.path.join(repo0, "clusters", c), os.path.join(repo, "clusters", c, f"r{r}"),
                            ignore=shutil.ignore_patterns("r*"))

        def moved(p):
            d, name = p.rsplit("/", 1)
            return f"{d}/r{r}/{name}"
        files += [moved(p) for p in files0]
        violations += [moved(p) for p in violations0]
    with open(os.path.join(repo, "files.txt"), "w") as f:
        f.write("\n".join(files) + "\n")
    return repo, files, violations


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seal", action="append",
                    help="a seal binary (repeatable; default target/release/seal)")
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--keep", help="keep (or reuse) the generated repositories in this directory")
    ap.add_argument("--generate-only", action="store_true")
    a = ap.parse_args()
    seals = a.seal or [os.path.join(compare.ROOT, "target/release/seal")]
    if a.keep:
        work = os.path.abspath(a.keep)
        os.makedirs(work, exist_ok=True)
    else:
        work = tempfile.mkdtemp(prefix="seal-check-scale.")
    try:
        env = {"HOME": work, "PATH": os.environ.get("PATH", ""), "NO_COLOR": "1"}
        keys = os.path.join(work, "keys.txt")
        if not os.path.exists(keys):
            subprocess.run([seals[0], "new-key", "-o", keys], env=env, capture_output=True, check=True)
            subprocess.run([seals[0], "new-key", "-o", os.path.join(work, "keys2.txt")], env=env,
                           capture_output=True, check=True)
        pub, pub2 = (next(line.split(": ")[1].strip() for line in open(k) if "public key" in line)
                     for k in (keys, os.path.join(work, "keys2.txt")))
        env["SOPS_AGE_KEY_FILE"] = keys
        gen = argparse.Namespace(seal=seals[0])
        print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; work {work}", flush=True)
        for n in [int(s) for s in a.sizes.split(",")]:
            sub = os.path.join(work, str(n))
            saved = os.path.join(sub, "generated.json")
            if os.path.exists(saved):
                with open(saved) as f:
                    repo, files, violations = json.load(f)
                print(f"\n{n:,} files (reused from {sub})", flush=True)
            elif n > BASE and n % BASE == 0 and os.path.exists(os.path.join(work, str(BASE), "generated.json")):
                repo, files, violations = replicate(os.path.join(work, str(BASE)), sub, n // BASE)
                with open(saved, "w") as f:
                    json.dump([repo, files, violations], f)
                print(f"\n{n:,} files: {n // BASE} copies of the {BASE:,}-file repository", flush=True)
            else:
                shutil.rmtree(sub, ignore_errors=True)
                os.makedirs(sub)
                t0 = time.perf_counter()
                repo, files, violations = compare.gitops_repo(gen, env, sub, pub, pub2, n_files=n,
                                                              n_secrets=n // 10)
                violations = list(violations)
                with open(saved, "w") as f:
                    json.dump([repo, files, violations], f)
                print(f"\n{n:,} files generated in {time.perf_counter() - t0:.0f} s", flush=True)
            if a.generate_only:
                continue
            for s in seals:
                verify(s, env, repo, violations)
            compare.warm(repo, files)
            variants = [(s, [s, "check", "-q", "--color", "never"], False) for s in seals]
            variants.append(("floor: find | xargs -P2 cat",
                             "find . -type f -not -path './.git/*' -print0 | xargs -0 -P2 cat >/dev/null",
                             True))
            got = {v[0]: [] for v in variants}
            for _ in range(a.runs):
                for name, cmd, shell in variants:
                    got[name].append(timed(cmd, env, repo, shell))
            for name, _, _ in variants:
                w = [r[0] for r in got[name]]
                c = [r[1] for r in got[name]]
                m = [r[2] for r in got[name]]
                print(f"  {name}: wall {statistics.median(w):.3f} s ({min(w):.3f}-{max(w):.3f}), "
                      f"cpu {statistics.median(c):.2f} s ({min(c):.2f}-{max(c):.2f}), "
                      f"max RSS {max(m) / 1024:.1f} MB", flush=True)
            print(f"  (load average {os.getloadavg()[0]:.2f})", flush=True)
            if not a.keep:
                shutil.rmtree(sub)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
