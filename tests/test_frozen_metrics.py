"""k-NN and retrieval metrics against values computed by hand."""
import math
import pickle

import numpy as np
import pytest
import torch

from mimco_mm.evaluation import (average_precision, knn_classify, load_revisited_gnd,
                                 mean_average_precision, recall_at_k, revisited_map)


def test_knn_weighting_beats_majority_only_at_low_temperature():
    # query (1, 0) of class 1; neighbours: (1, 0) class 1 at cos 1, two class-0 points at cos 0.9
    s = math.sqrt(1 - 0.81)
    train = torch.tensor([[1.0, 0.0], [0.9, s], [0.9, -s]])
    train_labels = torch.tensor([1, 0, 0])
    test, test_labels = torch.tensor([[2.0, 0.0]]), torch.tensor([1])
    # T = 0.07: e^(1/.07) > 2 e^(.9/.07) (ratio e^1.43 / 2 = 2.09) -> class 1
    sharp = knn_classify(train, train_labels, test, test_labels, ks=(1, 3), temperature=0.07)
    # T = 1: e^1 = 2.72 < 2 e^0.9 = 4.92 -> class 0
    flat = knn_classify(train, train_labels, test, test_labels, ks=(1, 3), temperature=1.0)
    assert sharp['knn/top1_k1'] == 100.0 and flat['knn/top1_k1'] == 100.0
    assert sharp['knn/top1_k3'] == 100.0
    assert flat['knn/top1_k3'] == 0.0
    assert flat['knn/top5_k3'] == 100.0  # two classes: top-5 always contains the label


def test_knn_k_larger_than_bank_is_an_error():
    with pytest.raises(ValueError, match='k=5'):
        knn_classify(torch.eye(3), torch.arange(3), torch.eye(3), torch.arange(3), ks=(5,))


def test_average_precision_by_hand():
    # positives at ranks 0 and 2 of 2: (1 + 1) / 4 + (1/2 + 2/3) / 4
    assert average_precision(np.array([0, 2]), 2) == pytest.approx(0.5 + (0.5 + 2 / 3) / 4)
    assert average_precision(np.array([0]), 2) == pytest.approx(0.5)  # one positive never found


def test_junk_is_skipped_and_hard_setup_moves_easy_to_junk():
    ranks = np.array([[3, 5, 1, 4]]).T  # one query, database order best first
    # medium: positives {3 (easy), 4 (hard)}, junk {5}: ranking [3, 1, 4] -> ranks 0, 2
    gnd = [dict(easy=np.array([3]), hard=np.array([4]), junk=np.array([5]))]
    expected_medium = 100 * (0.5 + (0.5 + 2 / 3) / 4)
    # hard: positive {4}, junk {5, 3}: ranking [1, 4], the positive at rank 1:
    # precision before = 0/1, after = 1/2 -> (0 + 0.5) / 2
    expected_hard = 100 * 0.25
    result = revisited_map(ranks, gnd)
    assert result['retrieval/mAP_medium'] == pytest.approx(expected_medium)
    assert result['retrieval/mAP_hard'] == pytest.approx(expected_hard)
    # queries without positives are left out of the mean
    assert mean_average_precision(np.hstack([ranks, ranks]), [np.array([3]), np.array([])],
                                  [np.array([]), np.array([])]) == pytest.approx(100.0)


def test_recall_at_k_by_hand():
    feats = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = torch.tensor([0, 1, 1, 0])
    # cosines: 0-1 .994, 2-3 .994, 1-3 .219, 0-3 .110, 1-2 .110, 0-2 0
    # 1st neighbours 0->1, 1->0, 2->3, 3->2: all of the other class
    # 2nd: 0->3 hit, 1->3 miss, 2->1 hit, 3->1 miss; 3rd: 1->2 hit, 3->0 hit
    result = recall_at_k(feats, labels, ks=(1, 2, 3))
    assert result['retrieval/recall@1'] == 0.0
    assert result['retrieval/recall@2'] == 50.0
    assert result['retrieval/recall@3'] == 100.0


def test_ground_truth_file_loads_safely(tmp_path):
    good = tmp_path / 'gnd_tiny.pkl'
    with open(good, 'wb') as f:
        pickle.dump(dict(imlist=['a', 'b'], qimlist=['q'],
                         gnd=[dict(easy=np.array([0]), hard=np.array([], dtype=np.int64),
                                   junk=np.array([1]), bbx=[0, 0, 4, 4])]), f)
    data = load_revisited_gnd(str(good))
    assert data['gnd'][0]['easy'].tolist() == [0]

    class Evil:
        def __reduce__(self):
            return (open, (str(tmp_path / 'pwned'), 'w'))
    evil = tmp_path / 'gnd_evil.pkl'
    with open(evil, 'wb') as f:
        pickle.dump(dict(imlist=[], qimlist=[], gnd=[Evil()]), f)
    with pytest.raises(pickle.UnpicklingError, match='refusing'):
        load_revisited_gnd(str(evil))
    assert not (tmp_path / 'pwned').exists()
