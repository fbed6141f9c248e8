"""The builder path for real: a local sshd, a builders file naming ssh://root@localhost, a build with
``max-jobs = 0`` through the NIX_CONFIG a build session generates, then ``invoke push`` to a local
binary cache and a substitution back from it.

The "remote" machine is this one, reached over ssh on a loopback port, with its own Nix store
(``?remote-store=<dir>``: a second store, so the remote build does not wait on the locks the
local Nix holds on the same outputs). Proof that the build went over ssh: the authorized key's
``command=`` wrapper logs every command sshd runs (``nix-store --serve --write …``), the output
exists in the remote store, and Nix says ``building … on 'ssh://root@localhost…'``.

Needs root (sshd logs in as root with a generated key), ``sshd`` (Debian: openssh-server; .ci/run
installs it) and Nix (single-user, as root). Where sshd cannot start the test skips with the
reason (fails instead under BUILDMATRIX_REQUIRE_SSHD=1, as in CI). sshd is stopped and every store
path made here is deleted again at the end. A few seconds.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from buildmatrix import ledger
from buildmatrix.builds import builders, parallelism
from buildmatrix.detect import host as hostinfo
from buildmatrix.plan import predict as plan
from buildmatrix.publish import push
from conftest import require_tool

SYSTEM = hostinfo.host_platform()


def _skip(reason: str):
    if os.environ.get("BUILDMATRIX_REQUIRE_SSHD") == "1":
        pytest.fail(f"BUILDMATRIX_REQUIRE_SSHD=1 but {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sshd(tmp_path):
    """An sshd on 127.0.0.1:<free port> accepting root with a generated key; yields (ssh_config, command log, remote store)."""
    exe = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
    if exe is None:
        _skip("sshd not installed (apt-get install openssh-server)")
    if os.geteuid() != 0:
        _skip("sshd for ssh://root@localhost needs root")
    require_tool("nix-build")
    d = tmp_path / "ssh"
    d.mkdir()
    for key in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True)
    remote = tmp_path / "remote-store"
    commands = d / "commands.log"
    # The remote side's Nix: builds in its own store, a chroot that needs the host's shell and libraries.
    sandbox = " ".join(p for p in ("/bin", "/lib", "/lib64", "/usr") if os.path.exists(p))
    wrapper = (
        f'command="echo \\"$SSH_ORIGINAL_COMMAND\\" >> {commands}; '
        f'NIX_CONFIG=\'sandbox-paths = {sandbox}\' exec sh -c \\"$SSH_ORIGINAL_COMMAND\\""'
    )
    (d / "authorized_keys").write_text(f"{wrapper} {(d / 'client.pub').read_text()}")
    (d / "authorized_keys").chmod(0o600)
    port = _free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host'}\nAuthorizedKeysFile {d / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"UsePAM no\nStrictModes no\nPidFile {d / 'sshd.pid'}\nLogLevel VERBOSE\n"
    )
    (d / "ssh_config").write_text(
        f"Host localhost\n  Port {port}\n  IdentityFile {d / 'client'}\n  IdentitiesOnly yes\n  BatchMode yes\n"
        "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  ControlMaster no\n  LogLevel ERROR\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    log = open(d / "sshd.log", "wb")
    proc = subprocess.Popen([exe, "-D", "-e", "-f", str(d / "sshd_config")], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                _skip(f"sshd could not start (exit {proc.returncode}): {(d / 'sshd.log').read_text().strip()[-500:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    _skip("sshd did not listen within 10 s")
                time.sleep(0.05)
        yield d / "ssh_config", commands, remote
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _nix(args, env, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, **kw)


def test_build_goes_over_ssh_then_push_and_substitute_from_a_file_cache(sshd, tmp_path, shipped):
    ssh_config, commands, remote = sshd
    root, cache = tmp_path / "root", tmp_path / "cache"
    root.mkdir()
    subprocess.run(
        ["nix-store", "--generate-binary-cache-key", "buildmatrix-test-1", str(tmp_path / "sk"), str(tmp_path / "pk")], check=True
    )
    public_key = (tmp_path / "pk").read_text().strip()
    # What a maintainer writes: everything remote, one builder, our cache as the only substituter.
    (tmp_path / "builders.toml").write_text(
        f'[local]\nmax-jobs = 0\n\n[[builder]]\nuri = "ssh://root@localhost?remote-store={remote}"\n'
        f'systems = ["{SYSTEM}"]\nsupported-features = ["big-parallel"]\n\n'
        f'[[substituter]]\nurl = "file://{cache}"\npublic-keys = ["{public_key}"]\n'
    )
    base = {k: v for k, v in os.environ.items() if k != "NIX_CONFIG"}
    base.update({builders.ENV_VAR: str(tmp_path / "builders.toml"), "NIX_SSHOPTS": f"-F {ssh_config}"})
    cfg = builders.load(root, base)
    par = parallelism.Parallelism(cores=1, max_jobs=cfg.max_jobs(1), per_job_gib=4, reason="test")
    env, _ = parallelism.nix_config_env(base, par, extra=cfg.nix_config_lines())  # exactly what a build session passes to flox
    assert "max-jobs = 0" in env["NIX_CONFIG"].splitlines()

    nonce = f"{os.getpid()}-{time.time_ns()}"
    (tmp_path / "probe.nix").write_text(
        f'derivation {{ name = "buildmatrix-probe-{nonce}"; system = "{SYSTEM}"; builder = "/bin/sh";\n'
        f'  args = [ "-c" "echo {nonce} > $out" ]; requiredSystemFeatures = [ "big-parallel" ]; }}\n'
    )
    variant = shipped.variants[0].name
    link = root / f"result-{variant}"
    built = _nix(["nix-build", str(tmp_path / "probe.nix"), "-o", str(link)], env)
    out_path = os.path.realpath(link) if link.is_symlink() else ""
    try:
        assert built.returncode == 0, built.stderr
        assert f"on 'ssh://root@localhost?remote-store={remote}'" in built.stderr  # Nix: building '…drv' on '…'
        assert "nix-store --serve --write" in commands.read_text()  # sshd ran the remote end of the build
        assert (remote / out_path.lstrip("/")).exists()  # built in the remote store, then copied back
        assert Path(out_path).read_text().strip() == nonce

        # invoke push: nix copy to the cache, signed with the secret key, one ledger record
        said: list[str] = []
        assert push.push(root, shipped, [variant], f"file://{cache}?secret-key={tmp_path / 'sk'}", env=env, say=said.append) == 0
        (rec,) = ledger.read(root)
        assert (rec.action, rec.status, rec.extra["store_path"]) == ("push", "ok", out_path)
        narinfo = (cache / f"{Path(out_path).name.split('-')[0]}.narinfo").read_text()
        assert "Sig: buildmatrix-test-1:" in narinfo

        # invoke plan's lookup: in the local store now; after deleting it, in the cache only
        drv_path = _nix(["nix-instantiate", str(tmp_path / "probe.nix")], base).stdout.strip()
        graph = plan.load_graph([drv_path])
        assert plan.availability(graph, [f"file://{cache}"]) == {out_path: "local store"}

        # gone from the store, then back from the cache: substituted (signature checked), not built
        link.unlink()
        deleted = _nix(["nix-store", "--delete", out_path], env)
        assert deleted.returncode == 0 and not os.path.exists(out_path), deleted.stderr
        assert plan.availability(graph, [f"file://{cache}"]) == {out_path: f"file://{cache}"}
        assert plan.to_build(graph, [drv_path], {out_path}) == set()
        no_builders = "\n".join(ln for ln in env["NIX_CONFIG"].splitlines() if not ln.startswith("builders"))
        again = _nix(["nix-store", "--realise", out_path], {**env, "NIX_CONFIG": no_builders})
        assert again.returncode == 0, again.stderr
        assert f"from 'file://{cache}'" in again.stderr and Path(out_path).read_text().strip() == nonce
    finally:
        if link.is_symlink():
            link.unlink()
        drv = _nix(["nix-instantiate", str(tmp_path / "probe.nix")], base).stdout.strip()
        _nix(["nix-store", "--delete", *(p for p in (out_path, drv) if p)], base)
