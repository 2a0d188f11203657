"""Golden statistics, tolerances and the comparison in forward order, on small tensors."""

import numpy as np
import pytest
import torch

from actassert import cli
from actassert.errors import GoldenError
from actassert.golden.compare import compare_goldens, metadata_differences
from actassert.golden.stats import collect, kernel_stats
from actassert.golden.tolerance import Tolerance, choose_tolerance, tolerance_for
from actassert.measures import Responses


def _maps(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"conv": torch.randn(2, 3, 4, 4, generator=g), "relu#0": torch.rand(2, 5, 2, 2, generator=g),
            "fc": torch.randn(2, 4, generator=g)}


def test_kernel_stats_summarise_batch_and_positions_per_kernel():
    x = torch.zeros(2, 2, 1, 2)
    x[:, 0] = torch.tensor([[[1.0, -1.0]], [[3.0, 1.0]]])
    stats = kernel_stats(x)
    assert stats.shape == (5, 2)
    assert stats[:, 0].tolist() == [1.0, np.std([1, -1, 3, 1]), -1.0, 3.0, 0.75]
    assert stats[:, 1].tolist() == [0.0, 0.0, 0.0, 0.0, 0.0]


def test_collect_keeps_forward_order_maps_and_metadata():
    golden = collect(_maps())
    assert golden.layers == ["conv", "relu#0", "fc"]
    assert golden.maps["conv"].dtype == np.float16 and golden.maps["conv"].shape == (3, 4, 4)
    assert golden.meta["device"] == "cpu" and golden.meta["dtype"] == "float32"
    assert golden.meta["torch"] == torch.__version__ and golden.meta["positions"]["conv"] == 32


@pytest.mark.parametrize("bad, message", [
    ([1, 2], "takes an Activations .*got list"),
    ({}, "nothing to check"),
    ({"a": np.zeros(3)}, "'a' is a ndarray, not a tensor"),
])
def test_collect_rejects_what_it_cannot_summarise(bad, message):
    with pytest.raises(GoldenError, match=message):
        collect(bad)


def test_identical_data_pass_and_the_first_changed_layer_is_in_forward_order():
    assert compare_goldens(collect(_maps()), collect(_maps())).first_changed is None
    changed = _maps()
    changed["fc"] = changed["fc"] * 1.1
    changed["relu#0"][:, 2] += 0.01
    result = compare_goldens(collect(_maps()), collect(changed))
    assert [d.layer for d in result.failures] == ["relu#0", "fc"]
    assert result.first_changed.worst[0].kernel == 2


def test_missing_new_and_reshaped_layers_fail():
    now = _maps()
    del now["conv"]
    now["extra"] = torch.ones(2, 2)
    now["fc"] = torch.randn(2, 6)
    result = compare_goldens(collect(_maps()), collect(now))
    assert [(d.layer, d.status) for d in result.failures] == [
        ("conv", "missing"), ("fc", "shape"), ("extra", "new")]


def test_per_layer_tolerances_by_name_or_glob():
    changed = _maps()
    changed["fc"] = changed["fc"] * 1.01
    assert compare_goldens(collect(_maps()), collect(changed)).first_changed.layer == "fc"
    assert compare_goldens(collect(_maps()), collect(changed),
                   tolerances={"f*": dict(rtol=0.05)}).first_changed is None
    with pytest.raises(GoldenError, match="'fcc' matches no checked layer. Did you mean: fc"):
        compare_goldens(collect(_maps()), collect(changed), tolerances={"fcc": dict(rtol=0.05)})
    with pytest.raises(GoldenError, match="give dict\\(rtol=..., atol=...\\)"):
        compare_goldens(collect(_maps()), collect(changed), tolerances={"fc": 0.05})


def test_responses_keep_a_lost_tuning():
    hues = torch.arange(4.0)
    tuned = torch.tensor([[1.0, 0.5], [0.0, 0.5], [0.0, 0.5], [0.0, 0.5]])
    shuffled = tuned[[1, 0, 2, 3]]  # kernel 0 now prefers another hue: same statistics
    make = lambda r: Responses({"layer": r}, {"hue": hues}, {}, "mean", "net")  # noqa: E731
    result = compare_goldens(collect(make(tuned)), collect(make(shuffled)))
    assert result.first_changed.worst[0].statistic in ("response[0]", "response[1]")
    assert np.array_equal(collect(make(tuned)).stats["layer"], collect(make(shuffled)).stats["layer"])


def test_another_device_uses_the_looser_pair_and_says_so():
    cpu = {"device": "cpu", "dtype": "float32"}
    cuda = {"device": "cuda:0", "dtype": "float32"}
    pair, note = choose_tolerance(cuda, cpu)
    assert pair == Tolerance(tolerance_for("cuda", "float32").rtol,
                             tolerance_for("cuda", "float32").atol)
    assert "golden was made on cuda/float32 and this run is on cpu/float32" in note
    assert choose_tolerance(cpu, cpu)[1] == f"{tolerance_for('cpu', 'float32')} (default for cpu/float32)"
    assert choose_tolerance(cuda, cpu, dict(rtol=0.5))[0] == Tolerance(0.5, 0.0)


def test_metadata_differences_name_only_what_differs():
    then = {"torch": "2.13.0", "device": "cuda:0", "dtype": "float32", "threads": 8}
    now = {"torch": "2.14.1", "device": "cpu", "dtype": "float32", "threads": 8}
    assert metadata_differences(then, now) == [
        "golden made with torch 2.13.0 on cuda:0; now torch 2.14.1 on cpu"]
    assert metadata_differences(now, now) == []


def _record_npz(path, shift=0.0):
    maps = _maps()
    maps["relu#0"] = maps["relu#0"] + shift
    np.savez(path, **{k: v.numpy() for k, v in maps.items()}, **{"_stimulus.hue": np.arange(2.0)})
    return str(path)


def test_diff_of_two_record_files(tmp_path, capsys):
    a = _record_npz(tmp_path / "a.npz")
    assert cli.main(["diff", a, _record_npz(tmp_path / "same.npz")]) == 0
    assert "no layer beyond tolerance (3 layers)" in capsys.readouterr().out
    assert cli.main(["diff", a, _record_npz(tmp_path / "b.npz", shift=0.1)]) == 1
    out = capsys.readouterr().out
    assert "first layer beyond tolerance: relu#0 (1 of 3 layers beyond tolerance)" in out
    assert [line.split()[0] for line in out.splitlines()[3:6]] == ["conv", "relu#0", "fc"]
    assert cli.main(["diff", a, _record_npz(tmp_path / "c.npz", shift=0.1), "--rtol", "1"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["diff", "a.npz"], "give two .npz files"),
    (["diff", "mobilenet_v2", "--weights", "none"], "give two checkpoints"),
    (["diff", "resnet18", "resnet50"], "one model name, or two .npz files"),
])
def test_diff_explains_wrong_arguments(argv, message, capsys):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_goldens_get_the_mode_a_plain_write_gives(tmp_path, umask, mode):
    import os
    import stat

    from actassert.golden.files import write_golden

    golden = collect({"a": torch.ones(2, 3, 4, 4)})
    old = os.umask(umask)
    try:
        path = write_golden(golden, tmp_path / "g.npz")
        (tmp_path / "plain").write_bytes(b"")
    finally:
        os.umask(old)
    plain = stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    assert plain == mode
    for written in (path, path.with_suffix(".json")):
        assert stat.S_IMODE(written.stat().st_mode) == plain, written
