"""The zoo (scripts/zoo.py): its CI subset, one model per family, passes; its oracle is honest; the
README's zoo table is the saved JSON's."""

import json
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import zoo  # noqa: E402


def test_the_ci_subset_passes_one_model_per_family(tmp_path, capsys):
    pytest.importorskip("timm")
    pytest.importorskip("transformers")
    out = tmp_path / "zoo.json"
    start = time.perf_counter()
    code = zoo.main(["--subset", "--out", str(out)])
    seconds = time.perf_counter() - start
    rows = json.loads(out.read_text())["rows"]
    failed = [r for r in rows if not zoo.passed(r)]
    assert code == 0 and failed == [], json.dumps(failed, indent=1)[:3000]
    assert [r["model"] for r in rows] == zoo.SUBSET
    sweeps = [s for r in rows for s in r["sweeps"]]
    assert all(s["verdict"] in ("ok", "refused", "unverified") for s in sweeps)
    assert sum(s["verdict"] == "ok" for s in sweeps) >= 2 * len(rows)
    # tokens with prefix tokens were checked: ViT's class token, DINOv2's 4 registers + class
    assert any(s["verdict"] == "ok" and len(s["shape"]) == 3 for r in rows
               if r["model"] == "timm:vit_small_patch14_reg4_dinov2" for s in r["sweeps"])
    with capsys.disabled():
        print(f"\nzoo CI subset: {len(rows)} models in {seconds:.0f} s")


def test_the_oracle_reads_layouts_from_how_shapes_grow_and_refuses_to_guess():
    masks = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    masks[..., :4, :] = True  # the top half
    maps = torch.arange(2 * 4 * 4 * 3, dtype=torch.float32).reshape(2, 4, 4, 3)  # [N, H, W, K]
    masks = masks.expand(2, -1, -1, -1)
    got = zoo.oracle(maps, (2, 4, 4, 3), (2, 6, 6, 3), masks, 1.5)
    torch.testing.assert_close(got, maps[:, :2].mean(dim=(1, 2)).double())
    tokens = torch.rand(2, 1 + 16, 5)  # a class token and a 4x4 grid; 1 + 36 at 1.5x
    got = zoo.oracle(tokens, (2, 17, 5), (2, 37, 5), masks, 1.5)
    torch.testing.assert_close(got, tokens[:, 1:9].mean(dim=1).double())
    assert zoo.oracle(maps, (2, 4, 4, 3), (2, 4, 4, 3), masks, 1.5) is None  # nothing grew
    assert zoo.oracle(maps, (2, 4, 4, 3), (2, 4, 6, 3), masks, 1.5) is None  # two fixed dims


def test_hand_cover_is_the_share_of_each_patch():
    masks = torch.zeros(1, 1, 6, 6, dtype=torch.bool)
    masks[..., :2, :3] = True
    cover = zoo.hand_cover(masks, 3, 2)  # patches of 2x3 pixels
    assert cover[0].tolist() == [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]


def test_the_readme_zoo_table_is_the_saved_json():
    saved = json.loads((ROOT / "scripts" / "bench_results" / "zoo.json").read_text())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert zoo.readme_block(saved["rows"]) in readme, "run python scripts/zoo.py --readme"
    assert saved["totals"] == zoo.totals(saved["rows"])
