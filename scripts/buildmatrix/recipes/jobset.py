"""The jobset: ``.flox/jobs.nix``, every variant as a job, by platform; and its evaluation.

``.flox/jobs.nix`` evaluates to ``{ <system> = { <variant> = <derivation>; … }; }`` and is
what Hydra (a jobset expression), ``nix-eval-jobs`` and ``nix-build -A
x86_64-linux.<variant>`` consume. It lives outside ``.flox/pkgs/`` because flox treats
every file there as a package. Each job imports its generated recipe and passes it, as
``buildmatrixNixpkgs``, the nixpkgs of the recipe's pin *for the job's platform*: one
evaluator (Hydra's, a laptop's) then lists the jobs of every platform with the right
``system``, where the recipes alone would take the evaluating machine's.

The file takes one argument, ``nixpkgsSource``: a function from a pin (``{ name, rev, url,
sha256 }``) to a nixpkgs source tree, or to what ``import <nixpkgs>`` returns. Its default
fetches the pinned tarball, exactly as every recipe does; the tests pass the stand-in
(``scripts/buildmatrix/nixeval/standin``).

Generation is the driver's (``buildmatrix.generated``, through :func:`output`): rendered in memory,
written atomically and only when it changed, never over a file without the generated marker;
``invoke gen`` writes it, ``invoke gen --check`` checks it. :func:`evaluate` is the proof: one real
``nix-instantiate --eval --strict`` of the whole jobset against the stand-in, checking that
every variant is a job under its platform with that ``system``, and that every
torchvision job's torch is the very derivation of its pytorch job; it reports the time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .. import generated
from ..model import Matrix, hashes
from . import MARKER, file_name, layout, nix

JOBS_FILE = Path(".flox") / "jobs.nix"
STANDIN = Path("scripts") / "buildmatrix" / "nixeval" / "standin"  # relative to the repository root


# ------------------------------------------------------------------------- render


def _pin_attrs(pin) -> str:
    # The recipes' own rule: a pin without a recorded sha256 gets the fake hash, so the first
    # fetch fails and prints the real one (`invoke pin NAME`), never an unverified tree.
    fields = (("name", pin.name), ("rev", pin.rev), ("url", pin.url), ("sha256", pin.sha256 or hashes.FAKE_HASH))
    body = "\n".join(layout.binding(k, v, "      ") for k, v in fields)
    comment = (
        ""
        if pin.sha256
        else layout.comment(f"No sha256 recorded: the fake hash fails the fetch until `invoke pin {pin.name}`.", "    ") + "\n"
    )
    return f"{comment}    {nix.attr_name(pin.name)} = {{\n{body}\n    }};"


def _job(v, platform: str) -> str:
    """``<variant> = job <pin> <system> ./pkgs/<file>;``, the recipe's path below when that is too long."""
    call = f"job {nix.string(v.pin.name)} {nix.string(platform)}"
    one = f"    {nix.attr_name(v.name)} = {call} ./pkgs/{file_name(v)};"
    if layout.fits(one):
        return one
    return f"    {nix.attr_name(v.name)} =\n      {call}\n        ./pkgs/{file_name(v)};"


def jobs_by_platform(matrix: Matrix) -> dict[str, list]:
    """Platform -> its variants (file order); platforms sorted."""
    out: dict[str, list] = {}
    for v in matrix.variants:
        out.setdefault(v.platform, []).append(v)
    return dict(sorted(out.items()))


def render(matrix: Matrix) -> str:
    """The text of .flox/jobs.nix (deterministic: platforms sorted, variants in file order)."""
    groups = jobs_by_platform(matrix)
    pins = sorted({v.pin.name for v in matrix.variants})
    counts = ", ".join(f"{p} {len(vs)}" for p, vs in groups.items())
    systems = []
    for platform, variants in groups.items():
        lines = "\n".join(_job(v, platform) for v in variants)
        systems.append(f"  {nix.attr_name(platform)} = {{\n{lines}\n  }};")
    return (
        f"{MARKER}\n"
        "# Change variants.toml and run `invoke gen`.\n"
        + layout.comment(
            f"The jobset: every variant of variants.toml as a job, by platform ({len(matrix.variants)} jobs: {counts}).", ""
        )
        + "\n"
        "#   Hydra: jobset expression `.flox/jobs.nix` in this repository's input.\n"
        "#   nix-eval-jobs --force-recurse .flox/jobs.nix\n"
        "#   nix-build .flox/jobs.nix -A x86_64-linux.<variant>\n"
        '# Guide: docs/BUILDING.md, "Building at scale".\n'
        "{\n"
        "  # The nixpkgs source of a pin ({ name, rev, url, sha256 }): a source tree, or what\n"
        "  # `import <nixpkgs>` returns. The default fetches the pinned tarball, as every recipe\n"
        "  # does; the tests pass the stand-in (scripts/buildmatrix/nixeval/standin).\n"
        "  nixpkgsSource ? pin: builtins.fetchTarball { inherit (pin) url sha256; },\n"
        "}:\n"
        "\n"
        "let\n"
        "  pins = {\n" + "\n".join(_pin_attrs(matrix.pins[p]) for p in pins) + "\n  };\n"
        "  # The nixpkgs of a pin for one system, whatever machine evaluates this file: every\n"
        "  # job's derivation has its platform's system, so one evaluator lists all platforms.\n"
        "  nixpkgsFor =\n"
        "    pin: system: args:\n"
        "    let\n"
        "      source = nixpkgsSource pins.${pin};\n"
        "      nixpkgs = if builtins.isFunction source then source else import source;\n"
        "    in\n"
        "    nixpkgs (args // { localSystem = { inherit system; }; });\n"
        "  job = pin: system: recipe: import recipe { buildmatrixNixpkgs = nixpkgsFor pin system; };\n"
        "in\n"
        "{\n" + "\n".join(systems) + "\n}\n"
    )


# ------------------------------------------------------------------------- output


def output(matrix: Matrix) -> generated.Output:
    """.flox/jobs.nix for the driver (``buildmatrix.generated``): written by a full ``invoke gen``."""
    return generated.Output(path=PurePosixPath(JOBS_FILE), text=render(matrix), marker=MARKER, what="the jobset")


# -------------------------------------------------------------------- evaluation

# Jobs are read in groups of 50 (names in order), each group from a fresh application of the jobset
# (`jobsOf`): a job forced inside the one attribute set the listing comes from would stay alive,
# with its whole package set, until the end (1.4 GB for the shipped matrix); read this way a group
# is garbage once its facts are taken. (One application per job would cost jobs² attributes.)
_EVAL = """
let
  jobsOf = _: import {jobs} {{ nixpkgsSource = pin: import {standin} {{ inherit (pin) rev; }}; }};
  unique = builtins.foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];
  isTorch = x: builtins.isAttrs x && x ? unroll-src;
  torchesOf =
    d:
    unique (
      map (x: x.drvPath) (
        builtins.filter isTorch (
          (d.buildInputs or [ ]) ++ (d.propagatedBuildInputs or [ ]) ++ (d.nativeBuildInputs or [ ])
        )
      )
    );
  facts = d: {{
    inherit (d) drvPath system;
    torchDrvPaths = torchesOf d;
  }};
  size = 50;
  groupsOf =
    names:
    let
      n = builtins.length names;
      width = g: if n - g * size < size then n - g * size else size;
    in
    builtins.genList (g: builtins.genList (j: builtins.elemAt names (g * size + j)) (width g)) ((n + size - 1) / size);
  factsOf =
    system: names:
    let
      js = (jobsOf names).${{system}};
    in
    map (name: {{ inherit name; value = facts js.${{name}}; }}) names;
in
builtins.mapAttrs (
  system: jobs: builtins.listToAttrs (builtins.concatMap (factsOf system) (groupsOf (builtins.attrNames jobs)))
) (jobsOf null)
"""


@dataclass
class JobsetReport:
    """What one evaluation of .flox/jobs.nix against the stand-in found."""

    jobs: dict[str, int] = field(default_factory=dict)  # platform -> jobs evaluated
    expected: dict[str, int] = field(default_factory=dict)  # platform -> variants in the model
    companion_jobs: int = 0
    sharing: int = 0  # torchvision/torchaudio jobs whose torch is their pytorch job's derivation
    problems: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and self.jobs == self.expected and self.sharing == self.companion_jobs

    @property
    def total(self) -> int:
        return sum(self.jobs.values())

    def lines(self) -> list[str]:
        per = ", ".join(f"{p} {n}" for p, n in self.jobs.items()) or "none"
        share = f"{self.sharing} / {self.companion_jobs}" + (
            f" = {100 * self.sharing / self.companion_jobs:.0f}%" if self.companion_jobs else ""
        )
        out = [
            f"jobset {JOBS_FILE}: {self.total} jobs ({per})",
            f"jobset torchvision/torchaudio jobs whose torch is their pytorch job's derivation: {share} (target 100%)",
            f"jobset evaluation: {self.wall_s:.1f} s (one nix-instantiate --eval --strict, stand-in nixpkgs)",
        ]
        return out + [f"JOBSET {p}" for p in self.problems]

    def as_dict(self) -> dict:
        return {
            "jobs": self.jobs,
            "total": self.total,
            "companion_jobs": self.companion_jobs,
            "sharing": self.sharing,
            "problems": self.problems,
            "wall_s": round(self.wall_s, 2),
        }


def _nix_path(path: Path) -> str:
    return f"(/. + {nix.string(str(path.resolve()))})"


def evaluate(matrix: Matrix, root: Path, standin: Path | None = None, env: dict[str, str] | None = None) -> JobsetReport:
    """Evaluate ``root``/.flox/jobs.nix against the stand-in and check it against ``matrix``
    (``env``: nix-instantiate's environment, nixeval's ``nix_env``; default this process's)."""
    root = Path(root)
    standin = standin or (root / STANDIN if (root / STANDIN / "default.nix").is_file() else Path(__file__).parents[3] / STANDIN)
    exe = shutil.which("nix-instantiate")
    if exe is None:
        raise FileNotFoundError("nix-instantiate not on PATH (apt-get install nix-bin)")
    groups = jobs_by_platform(matrix)
    report = JobsetReport(expected={p: len(vs) for p, vs in groups.items()})
    expr = _EVAL.format(jobs=_nix_path(root / JOBS_FILE), standin=_nix_path(standin))
    start = time.monotonic()
    proc = subprocess.run(
        [exe, "--eval", "--strict", "--json", "--readonly-mode", "--expr", expr],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
    )
    report.wall_s = time.monotonic() - start
    if proc.returncode:
        err = proc.stderr[proc.stderr.find("error:") :] if "error:" in proc.stderr else proc.stderr
        report.problems.append("evaluation failed: " + " ".join(err.split())[:1500])
        return report
    data: dict[str, dict[str, dict]] = json.loads(proc.stdout)
    report.jobs = {p: len(js) for p, js in sorted(data.items())}
    for platform, variants in groups.items():
        got = data.get(platform, {})
        for v in variants:
            job = got.get(v.name)
            if job is None:
                report.problems.append(f"{v.name}: no job {platform}.{v.name}")
                continue
            if job["system"] != platform:
                report.problems.append(f"{platform}.{v.name}: system is {job['system']}, not {platform}")
            if not v.requires:
                continue
            report.companion_jobs += 1
            torch_job = got.get(v.requires)
            wanted = [torch_job["drvPath"]] if torch_job else None
            if job["torchDrvPaths"] == wanted:
                report.sharing += 1
            else:
                report.problems.append(
                    f"{platform}.{v.name}: its torch {job['torchDrvPaths']} is not the derivation of job "
                    f"{platform}.{v.requires} ({wanted})"
                )
    known = {(v.platform, v.name) for v in matrix.variants}
    extra = sorted(f"{p}.{n}" for p, js in data.items() for n in js if (p, n) not in known)
    if extra:
        report.problems.append(f"jobs no variant produces: {', '.join(extra[:10])}")
    return report
