"""docs/QUICKSTART.md regions: ``decision-tree``, ``gpu-reference``, ``cpu-isa-guide``, ``examples``, ``magma-patch``."""

from __future__ import annotations

from collections import Counter

from ..detect.fit import MINOR_VERSION_COMPAT_URL, cuda_floor
from ..model import Matrix, Variant
from .context import (
    Context,
    built_gpus,
    driver_max,
    generator,
    isa_key,
    products,
    sorted_cudas,
    sorted_gpus,
    sorted_isas,
    variant_key,
    ver,
)
from .facts import (
    archspec_version,
    best_build,
    cudas_of,
    example_variants,
    isa_facts,
    isas_of,
    non_gpu_rows,
    pin_link,
    release_lines,
    section_heading,
)
from .markdown import code, slug, table


@generator("decision-tree")
def gen_decision_tree(ctx: Context) -> str:
    """Your GPU → SM, your driver → CUDA, your CPU → ISA, in the order `invoke detect` decides."""
    m = ctx.matrix
    out = ["**1. Your GPU → architecture** (`nvidia-smi --query-gpu=name,compute_cap --format=csv`)\n"]
    rows = []
    for g in sorted_gpus(m):
        b = best_build(m, g.capability)
        if b is None:
            rows.append([products(g), g.capability, "no variant runs on it", "—", "—", "—"])
        else:
            use = code(b.name) if b.name == g.name else f"{code(b.name)} (SASS-compatible; there is no {g.name} build)"
            lines = release_lines(ctx, lambda v, b=b: v.gpu is b, slug(section_heading(b, "cuda")))
            rows.append([products(g), g.capability, use, ", ".join(cudas_of(m, b)), ", ".join(isas_of(m, b)), lines])
    rows += non_gpu_rows(ctx, long=True)
    out.append(table(["Your GPU", "Compute capability", "Use", "CUDA versions", "CPU ISAs built for it", "torch lines"], rows))
    if m.defaults.torch and any(v.line for v in m.variants):
        out.append(
            f"\nThe torch line: {m.defaults.torch} (the default) unless you need another; `--torch M.m` on `invoke detect` "
            "and `nox -s build -- …` picks one, and its names and aliases end in `-torch<M>_<m>` (`sm120-avx-torch2_9`)."
        )
    out.append(
        "\nEach torch line in the table links to that line's page: its SM × ISA grids and every variant it builds "
        f"([all lines]({ctx.link('docs/BUILD_MATRIX.md#torch-lines')}))."
    )
    out.append(
        "\nA GPU not listed: take the build with the same major version and the highest minor version not above "
        "yours (see *What runs where* below); none fits a newer major version, because the builds carry no PTX."
    )
    out.append("\n**2. Your driver → CUDA** (`nvidia-smi` prints the driver version)\n")
    d = m.cudas[m.defaults.cuda]
    out.append(
        f"Take CUDA {d.version} (the default) if your driver is ≥ {cuda_floor(d)} and your architecture is built "
        "for it; otherwise the newest CUDA your driver runs that your architecture is built for. From CUDA 11 on, "
        "a build made with any toolkit of one CUDA major release runs on a driver at least that major release's "
        "minimum, with a limited feature set: features that need a newer driver may be unavailable "
        f"(NVIDIA: [CUDA minor version compatibility]({MINOR_VERSION_COMPAT_URL})). The last column is the driver "
        "each release ships with, which has every feature; `invoke detect` prefers a release whose own driver "
        "yours meets:\n"
    )
    crow = []
    for c in reversed(sorted_cudas(m)):
        cu = m.cudas[c]
        gpus = [g.name for g in built_gpus(m) if c in cudas_of(m, g)]
        if gpus:
            crow.append(
                [
                    f"≥ {cuda_floor(cu)}",
                    f"CUDA {c}" + (" (default)" if c == m.defaults.cuda else ""),
                    ", ".join(gpus),
                    f"≥ {cu.min_driver}",
                ]
            )
    out.append(table(["Driver", "Runs CUDA", "Architectures built with it", "Every feature of it needs"], crow))
    lowest = min((cuda_floor(c) for c in m.cudas.values()), key=lambda d: tuple(int(x) for x in d.split(".")))
    out.append(f"\nA driver older than {lowest} runs none of them: use a CPU-only variant (or update the driver).")
    out.append(
        "\n**3. Your CPU → ISA**: the highest row whose flags your CPU has all of (`/proc/cpuinfo`; `archspec cpu` names the microarchitecture)\n"
    )
    facts = isa_facts(m)
    irows = []
    for isa in sorted(sorted_isas(m), key=lambda i: (isa_key(i)[0], -i.rank)):
        irows.append(
            [
                isa.platform,
                " ".join(code(f) for f in isa.features),
                code(isa.name),
                ", ".join(facts[isa.name].best_for) or "—",
            ]
        )
    out.append(table(["Platform", "CPU has all of", "Use ISA", "Best choice for (archspec)"], irows))
    restricted = []
    for g in built_gpus(m):
        have = isas_of(m, g)
        plat = {m.isas[i].platform for i in have}
        all_for = [i.name for i in sorted_isas(m) if i.platform in plat]
        if have != all_for:
            restricted.append(f"{g.name}: {', '.join(have)}")
    if restricted:
        out.append(
            "\nSome architectures are built with fewer ISAs ("
            + "; ".join(restricted)
            + "): take the highest of those your CPU has. An ISA lower than your best still runs, only slower."
        )
    out.append("\n**4. The name**\n")
    out.append(
        "`<package>-python<XY>-cuda<X_Y>-<sm>-<isa>` for GPUs, `<package>-python<XY>-cpu-<isa>` without GPU, "
        "`<package>-python<XY>-darwin-mps` for Apple Silicon."
    )
    ex = [vs for _a, vs in example_variants(m) if vs[0].cuda and vs[0].cuda.version == m.defaults.cuda]
    if ex:
        sample = ex[0][0]
        other = sorted(
            (v for v in m.variants if v.short == sample.short and v.cuda and v.cuda.version != m.defaults.cuda),
            key=lambda v: variant_key(m, v),
        )
        text = (
            f"E.g. {code(sample.name)}. Short names leave out the package, the Python version and the default CUDA: "
            f"{code(sample.short)} means {' + '.join(m.packages[p].title for p in m.defaults.packages)} "
            f"for Python {m.defaults.python}, CUDA {m.defaults.cuda}"
        )
        if other:
            text += f"; {code(other[-1].cuda_alias)} picks CUDA {other[-1].cuda.version}"
        out.append(text + ".")
    out.append(
        "\nIf your driver is too old for every CUDA version your architecture is built with, an older build of the "
        "same major version (previous table) may still fit with an older CUDA; `invoke detect` weighs that for you."
    )
    return "\n".join(out)


@generator("gpu-reference")
def gen_gpu_reference(ctx: Context) -> str:
    """GPU names, capability, toolkit range, drivers, what runs where."""
    m = ctx.matrix
    rows = []
    for g in sorted_gpus(m):
        n = sum(1 for v in m.variants if v.gpu and v.gpu.name == g.name)
        rng = f"{g.min_cuda} – {g.max_cuda}" if g.max_cuda else f"{g.min_cuda} and later"
        rows.append(
            [
                g.name,
                g.capability,
                g.family,
                products(g),
                rng,
                ", ".join(cudas_of(m, g)) or "none",
                f"≥ {g.min_driver}",
                ", ".join(g.platforms),
                "yes" if g.cudnn else "off (cuDNN 9.11+ dropped it)",
                str(n),
            ]
        )
    main = table(
        [
            "SM",
            "Capability",
            "Family",
            "GPUs",
            "CUDA can compile for it",
            "CUDA built here",
            "GPU needs driver",
            "Platforms",
            "cuDNN",
            "Variants",
        ],
        rows,
    )
    cudas = sorted_cudas(m)
    drows = []
    for g in built_gpus(m):
        built = set(cudas_of(m, g))
        drows.append([g.name, *((f"≥ {driver_max(cuda_floor(m.cudas[c]), g.min_driver)}" if c in built else "—") for c in cudas)])
    drivers = table(["SM", *(f"CUDA {c}" for c in cudas)], drows)
    caps = [g.capability for g in sorted_gpus(m)]
    wrows = [[g.name, *("✓" if g.runs_on(c) else "—" for c in caps)] for g in built_gpus(m)]
    where = table(["Build \u2193 / device \u2192", *caps], wrows)
    example = next((g for g in built_gpus(m) if sum(g.runs_on(c) for c in caps) > 1), None)
    rule = (
        "Each build holds machine code (SASS) for exactly one compute capability and no PTX. SASS runs on devices "
        "of the same major version with an equal or higher minor version (Jetson Orin, 8.7, excepted)"
    )
    if example is not None:
        ok = [c for c in caps if example.runs_on(c)]
        nxt = next((c for c in caps if int(c.split(".")[0]) > example.major), None)
        rule += f": an {example.name} build runs on {', '.join(ok)} devices" + (f", not on {nxt}" if nxt else "")
    rule += "."
    heading = (
        "\n\n**Driver needed per build** (the higher of the CUDA release's minimum under minor-version "
        f"compatibility ([NVIDIA]({MINOR_VERSION_COMPAT_URL})) and the GPU's minimum; — = not built)\n\n"
    )
    return main + heading + drivers + "\n\n**What runs where**\n\n" + rule + "\n\n" + where


@generator("cpu-isa-guide")
def gen_cpu_isa_guide(ctx: Context) -> str:
    """Per ISA: flags, CPU features, first microarchitectures, what archspec says runs it (and the nearest that do not)."""
    m = ctx.matrix
    facts = isa_facts(m)
    parts = [
        f"Microarchitecture lists come from archspec {archspec_version()}'s database (every non-generic entry whose "
        "features include all the ISA's features); \u201cHardware\u201d is the maintainers' summary in variants.toml."
    ]
    for isa in sorted_isas(m):
        f = facts[isa.name]
        n_gpu = sum(1 for v in m.variants if v.isa and v.isa.name == isa.name and v.gpu)
        n_cpu = sum(1 for v in m.variants if v.isa and v.isa.name == isa.name and not v.gpu)
        lines = [
            f"#### {isa.name}: {isa.title}",
            "",
            f"- Platform: {isa.platform}; {n_gpu} GPU and {n_cpu} CPU-only variants",
            f"- Compiler flags: {' '.join(code(x) for x in isa.flags)}",
            f"- The CPU must report: {' '.join(code(x) for x in isa.features)}",
            f"- First microarchitectures with all of them: {', '.join(isa.archspec)}",
            f"- Hardware: {isa.hardware}",
            f"- Runs on (archspec): {', '.join(f.runs_on) or 'none known'}",
        ]
        if f.near_misses:
            lines.append("- Does not run on (nearest): " + ", ".join(f"{t} (no {', '.join(miss)})" for t, miss in f.near_misses))
        if isa.env or isa.cmake_flags:
            lines.append(
                "- Also switches off: "
                + ", ".join(code(f"{k}={v}") for k, v in isa.env)
                + ("; CMake " + " ".join(code(x) for x in isa.cmake_flags) if isa.cmake_flags else "")
            )
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _describe(m: Matrix, vs: list[Variant]) -> str:
    v = vs[0]
    pk = " + ".join(m.packages[p].title for p in dict.fromkeys(x.package.name for x in vs))
    if v.gpu:
        hw = f"{v.gpu.name} ({products(v.gpu, 2)}), {v.isa.title}, CUDA {v.cuda.version}, {v.platform}"
    elif v.isa:
        hw = f"{v.target_info.label}, {v.isa.title}, {v.platform}"
    else:
        hw = "Apple Silicon, aarch64-darwin"
    return f"{pk} for {hw}, Python {v.python.version}"


@generator("examples")
def genexample_variants(ctx: Context) -> str:
    """Build, smoke-test and publish commands naming variants that exist."""
    m = ctx.matrix
    ex = example_variants(m)
    if not ex:
        return "No variants to show."
    lines = ["```sh"]
    for alias, vs in ex:
        lines.append(f"# {_describe(m, vs)}")
        lines.append(f"nox -s build-{alias}")
    full = ex[0][1][0]
    lines.append("# one variant by its full name (a TorchVision name builds its PyTorch too)")
    lines.append(f"nox -s build-{full.name}")
    lines.append("```")
    lines.append("")
    lines.append("Smoke-test a built variant on a matching machine (this records the outcome in the ledger), then publish it:")
    lines.append("")
    lines.append("```sh")
    lines.append(f"nox -s smoke -- --variant {full.name}")
    lines.append(f"invoke publish {full.name} --org ORG")
    lines.append("```")
    return "\n".join(lines)


@generator("magma-patch")
def gen_magma_patch(ctx: Context) -> str:
    """Which variants get each patch under patches/, and why the others do not."""
    m = ctx.matrix
    if not m.patches:
        return "variants.toml lists no patches."
    parts = []
    for p in sorted(m.patches.values(), key=lambda p: p.name):
        groups: dict[tuple, int] = Counter()
        for v in m.variants:
            if v.cuda is None:
                continue
            if p in v.patches:
                reason = "applied"
            elif not p.wanted_by(v.cuda):
                reason = f"not needed: CUDA {v.cuda.version} < {p.min_cuda}"
            elif p.name in v.pin.carries:
                reason = f"not applied: [pin.{v.pin.name}] carries it (asserted at evaluation; applying it twice fails)"
            else:
                reason = "not applied"
            groups[(ver(v.cuda.version), v.pin.name, reason)] += 1
        rows = [[f"CUDA {c}", pin_link(m.pins[pin]), reason, str(n)] for (c, pin, reason), n in sorted(groups.items())]
        applied = sum(1 for v in m.variants if p in v.patches)
        no_cuda = sum(1 for v in m.variants if v.cuda is None)
        parts.append(
            f"**{code(p.name)}** ([{p.file}]({ctx.link(p.file)})), added to nixpkgs' {code(p.package)}: {p.summary}. "
            f"Upstream: {p.upstream}. Applied to {applied} of {len(m.variants)} variants "
            f"(every variant with CUDA ≥ {p.min_cuda} whose pin does not carry it; {no_cuda} CPU-only and Apple variants have no MAGMA).\n\n"
            + table(["CUDA", "Pin", "Patch", "Variants"], rows)
        )
    return "\n\n".join(parts)
