"""Full WordNet scale (117,659 x 384): the compressed mode's quality and size floor (slow)."""

from __future__ import annotations

import numpy as np
import pytest

from lance_spiral.table import create_table


@pytest.mark.slow
def test_full_wordnet_compressed(tmp_path, shared_data):
    x = np.load(shared_data / "wordnet" / "emb_f16.npy").astype(np.float32)
    q = np.load(shared_data / "wordnet" / "query_emb.npy")[:200].astype(np.float32)
    gt = np.load(shared_data / "wordnet" / "gt.npy")[:200, :10]
    t = create_table(str(tmp_path / "w.lance"), {"id": np.arange(len(x)), "vector": x},
                     progress=False)
    res = t.search(q).limit(10).select([]).to_arrow()
    qi, ids = res.column("_query_index").to_numpy(), res.column("id").to_numpy()
    recall = np.mean([len(set(ids[qi == i]) & set(gt[i])) / 10 for i in range(len(q))])
    assert recall >= 0.98
    assert t.disk_bytes() <= 0.3 * x.nbytes
