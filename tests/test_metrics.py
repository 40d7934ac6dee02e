"""Metrics against values computed by hand or by an independent NumPy reference."""
import numpy as np
import pytest

from graphc import metrics


# -- Mean and the per-sample reduction ------------------------------------------------------------
def test_mean_unweighted_and_weighted():
    m = metrics.Mean()
    m.update_state([1.0, 2.0, 3.0])
    m.update_state([4.0])
    assert m.result() == pytest.approx(2.5)
    m.reset_state()
    assert m.result() == 0.0
    m.update_state([1.0, 3.0], sample_weight=[3.0, 1.0])
    assert m.result() == pytest.approx((3 + 3) / 4)


def test_mean_reduces_extra_axes_per_sample():
    m = metrics.Mean()
    m.update_state([[1.0, 3.0], [5.0, 7.0]])  # per-sample means 2 and 6
    assert m.count == 2
    assert m.result() == pytest.approx(4.0)
    m.reset_state()
    m.update_state([[1.0, 3.0], [5.0, 7.0]], sample_weight=[1.0, 3.0])
    assert m.result() == pytest.approx((2 * 1 + 6 * 3) / 4)


def test_metric_call_updates_and_returns():
    m = metrics.Mean(name="m")
    assert m([2.0]) == 2.0
    assert m([4.0]) == 3.0
    assert m.name == "m"


# -- accuracies -----------------------------------------------------------------------------------
def test_accuracy_exact_equality():
    m = metrics.Accuracy()
    m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    assert m.result() == pytest.approx(0.75)
    assert m.name == "accuracy"


def test_binary_accuracy_threshold():
    y_true = np.array([[1], [1], [0], [0]])
    y_pred = np.array([[0.98], [0.4], [0.6], [0.1]])
    m = metrics.BinaryAccuracy()
    m.update_state(y_true, y_pred)
    assert m.result() == pytest.approx(0.5)
    m = metrics.BinaryAccuracy(threshold=0.3)
    m.update_state(y_true[:, 0], y_pred)  # labels (N,) against a one-unit output (N, 1)
    assert m.result() == pytest.approx(0.75)
    m = metrics.BinaryAccuracy(threshold=0.7)
    m.update_state(y_true, y_pred, sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(1.0)


def test_categorical_accuracy():
    y_true = np.eye(3)[[0, 1, 2, 1]]
    y_pred = np.array([[0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.3, 0.6, 0.1]])
    m = metrics.CategoricalAccuracy()
    m.update_state(y_true, y_pred)
    assert m.result() == pytest.approx(0.75)
    m.update_state(y_true[:2], y_pred[:2], sample_weight=[0.0, 4.0])
    assert m.result() == pytest.approx(3 / 8)


@pytest.mark.parametrize("shape", [(4,), (4, 1)])
def test_sparse_categorical_accuracy_label_shapes(shape):
    labels = np.array([0, 1, 2, 1]).reshape(shape)
    y_pred = np.array([[0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.3, 0.6, 0.1]], np.float32)
    m = metrics.SparseCategoricalAccuracy()
    m.update_state(labels, y_pred)
    assert m.result() == pytest.approx(0.75)
    assert isinstance(m.result(), float)


def test_sparse_categorical_accuracy_shape_mismatch():
    with pytest.raises(ValueError, match="do not match"):
        metrics.SparseCategoricalAccuracy().update_state(np.zeros((4, 2)), np.zeros((4, 3)))


def test_top_k_accuracies():
    y_pred = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.4, 0.35, 0.25]])
    labels = np.array([2, 0, 1])
    # class 2 is third in row 0, class 0 third in row 1, class 1 second in row 2
    sparse = metrics.SparseTopKCategoricalAccuracy(k=2)
    sparse.update_state(labels, y_pred)
    assert sparse.result() == pytest.approx(1 / 3)
    dense = metrics.TopKCategoricalAccuracy(k=2)
    dense.update_state(np.eye(3)[labels], y_pred)
    assert dense.result() == pytest.approx(1 / 3)
    top3 = metrics.SparseTopKCategoricalAccuracy(k=3)
    top3.update_state(labels, y_pred)
    assert top3.result() == 1.0
    assert metrics.TopKCategoricalAccuracy().name == "top_k_categorical_accuracy"


def test_mse_mae():
    y_true = np.array([[0.0, 1.0], [2.0, 2.0]])
    y_pred = np.array([[1.0, 1.0], [0.0, 3.0]])
    mse, mae = metrics.MeanSquaredError(), metrics.MeanAbsoluteError()
    mse.update_state(y_true, y_pred)
    mae.update_state(y_true, y_pred)
    assert mse.result() == pytest.approx((0.5 + 2.5) / 2)
    assert mae.result() == pytest.approx((0.5 + 1.5) / 2)
    mse.reset_state()
    mse.update_state(y_true, y_pred, sample_weight=[1.0, 0.0])
    assert mse.result() == pytest.approx(0.5)


# -- AUC ------------------------------------------------------------------------------------------
def roc_auc_trapezoid(labels, scores, weights=None):
    """Exact ROC AUC: the trapezoid rule over the curve's points at every distinct score."""
    labels = np.asarray(labels, bool)
    weights = np.ones(len(scores)) if weights is None else np.asarray(weights, float)
    order = np.argsort(-np.asarray(scores), kind="stable")
    s, y, w = np.asarray(scores)[order], labels[order], weights[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # last index of each score
    tps = np.r_[0.0, np.cumsum(w * y)[distinct]]
    fps = np.r_[0.0, np.cumsum(w * ~y)[distinct]]
    return np.trapezoid(tps / tps[-1], fps / fps[-1])


def mann_whitney_auc(labels, scores):
    labels = np.asarray(labels, bool)
    pos, neg = np.asarray(scores)[labels], np.asarray(scores)[~labels]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return (greater + 0.5 * ties) / (len(pos) * len(neg))


def grid_scores(rng, n, num_thresholds=200):
    """Scores strictly between AUC's thresholds i/199, so the 200-threshold curve is the exact one."""
    return (rng.integers(0, num_thresholds - 1, size=n) + 0.5) / (num_thresholds - 1)


def test_auc_matches_exact_roc_on_grid_scores():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=300)
    scores = np.clip(grid_scores(rng, 300) * 0.6 + 0.4 * labels * rng.random(300), 0, 1)
    scores = (np.floor(scores * 199) + 0.5) / 199
    m = metrics.AUC()
    m.update_state(labels[:100], scores[:100])  # state accumulates over batches
    m.update_state(labels[100:], scores[100:])
    expected = roc_auc_trapezoid(labels, scores)
    assert expected == pytest.approx(mann_whitney_auc(labels, scores))
    assert 0.6 < expected < 0.95
    assert m.result() == pytest.approx(expected, abs=1e-9)


def test_auc_with_sample_weight_matches_weighted_trapezoid():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, size=200)
    scores = grid_scores(rng, 200)
    weights = rng.random(200) * 3
    m = metrics.AUC()
    m.update_state(labels, scores, sample_weight=weights)
    assert m.result() == pytest.approx(roc_auc_trapezoid(labels, scores, weights), abs=1e-9)


def test_auc_off_grid_scores_is_close_to_exact():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, size=2000)
    scores = 1 / (1 + np.exp(-(rng.normal(size=2000) + 1.2 * labels)))
    m = metrics.AUC()
    m.update_state(labels.reshape(-1, 1), scores.reshape(-1, 1))
    assert m.result() == pytest.approx(roc_auc_trapezoid(labels, scores), abs=2e-3)


def test_auc_hand_computed_small_case():
    # positives 0.8, 0.4; negatives 0.6, 0.2: of 4 pairs, 3 are ordered right
    m = metrics.AUC()
    m.update_state([1, 1, 0, 0], [0.8, 0.4, 0.6, 0.2])
    assert m.result() == pytest.approx(0.75)
    m = metrics.AUC(num_thresholds=3)  # thresholds -eps, 0.5, 1+eps: points (1,1), (0.5,0.5), (0,0)
    m.update_state([1, 1, 0, 0], [0.8, 0.4, 0.6, 0.2])
    assert m.result() == pytest.approx(0.5)


def test_auc_edge_cases():
    assert metrics.AUC().result() == 0.0  # nothing seen
    perfect = metrics.AUC()
    perfect.update_state([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert perfect.result() == pytest.approx(1.0)
    inverted = metrics.AUC()
    inverted.update_state([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9])
    assert inverted.result() == pytest.approx(0.0)
    constant = metrics.AUC()
    constant.update_state([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])
    assert constant.result() == pytest.approx(0.5)
    one_class = metrics.AUC()
    one_class.update_state([1, 1, 1], [0.2, 0.5, 0.9])
    assert one_class.result() == 0.0  # no negatives: the false-positive rate is 0 throughout
    with pytest.raises(ValueError, match="from_logits"):
        metrics.AUC().update_state([0, 1], [-1.0, 2.0])
    with pytest.raises(ValueError, match="num_thresholds"):
        metrics.AUC(num_thresholds=1)


def test_auc_from_logits_and_reset():
    logits = np.array([-2.0, 0.5, 1.0, -0.5])
    labels = [0, 1, 1, 0]
    m = metrics.AUC(from_logits=True)
    m.update_state(labels, logits)
    assert m.result() == pytest.approx(1.0)
    m.reset_state()
    m.update_state([1, 0], [0.2, 0.9])
    assert m.result() == pytest.approx(0.0)


def test_auc_multi_label_averages_per_label_areas():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, size=(150, 3))
    scores = grid_scores(rng, 450).reshape(150, 3)
    per_label = [roc_auc_trapezoid(labels[:, j], scores[:, j]) for j in range(3)]
    m = metrics.AUC(multi_label=True)
    m.update_state(labels, scores)
    assert m.result() == pytest.approx(np.mean(per_label), abs=1e-9)
    weighted = metrics.AUC(multi_label=True, label_weights=[1.0, 0.0, 3.0])
    weighted.update_state(labels, scores)
    assert weighted.result() == pytest.approx((per_label[0] + 3 * per_label[2]) / 4, abs=1e-9)
    pooled = metrics.AUC()
    pooled.update_state(labels, scores)
    assert pooled.result() == pytest.approx(roc_auc_trapezoid(labels.ravel(), scores.ravel()), abs=1e-9)


def test_auc_minoring_majoring_bracket_interpolation():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, size=100)
    scores = rng.random(100)
    values = {}
    for method in ("minoring", "interpolation", "majoring"):
        m = metrics.AUC(num_thresholds=5, summation_method=method)
        m.update_state(labels, scores)
        values[method] = m.result()
    assert values["minoring"] <= values["interpolation"] <= values["majoring"]
    assert values["interpolation"] == pytest.approx((values["minoring"] + values["majoring"]) / 2)


def test_pr_auc():
    perfect = metrics.AUC(curve="PR")
    perfect.update_state([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert perfect.result() == pytest.approx(1.0)
    # positives 0.8, 0.4; negatives 0.6, 0.2; thresholds -eps, 0.5, 1+eps.
    # (recall, precision): t=-eps (1, 0.5); t=0.5 (0.5, 0.5); t=1+eps (0, 0).
    minoring = metrics.AUC(curve="PR", num_thresholds=3, summation_method="minoring")
    minoring.update_state([1, 1, 0, 0], [0.8, 0.4, 0.6, 0.2])
    assert minoring.result() == pytest.approx(0.5 * 0.5 + 0.5 * 0.0)
    majoring = metrics.AUC(curve="PR", num_thresholds=3, summation_method="majoring")
    majoring.update_state([1, 1, 0, 0], [0.8, 0.4, 0.6, 0.2])
    assert majoring.result() == pytest.approx(0.5 * 0.5 + 0.5 * 0.5)
    # interpolation: from (p=4, tp=2) to (p=2, tp=1) tp = p / 2, precision 1/2 over recall 1 -> 0.5:
    # 0.25; from (2, 1) to (0, 0) likewise tp = p / 2: another 0.25.
    interp = metrics.AUC(curve="PR", num_thresholds=3)
    interp.update_state([1, 1, 0, 0], [0.8, 0.4, 0.6, 0.2])
    assert interp.result() == pytest.approx(0.5)


# -- Precision and Recall -------------------------------------------------------------------------
def test_precision_recall_default_threshold():
    y_true = [0, 1, 1, 1, 0]
    y_pred = [0.6, 0.9, 0.4, 0.7, 0.1]  # positives: idx 0 (fp), 1 (tp), 3 (tp); idx 2 is a fn
    p, r = metrics.Precision(), metrics.Recall()
    p.update_state(y_true, y_pred)
    r.update_state(y_true, y_pred)
    assert p.result() == pytest.approx(2 / 3)
    assert r.result() == pytest.approx(2 / 3)
    p.update_state([1], [0.2], sample_weight=[5.0])  # a weighted false negative: precision unchanged
    assert p.result() == pytest.approx(2 / 3)
    r.update_state([1], [0.2], sample_weight=[5.0])
    assert r.result() == pytest.approx(2 / 8)


def test_precision_recall_thresholds_list_and_empty():
    p = metrics.Precision(thresholds=[0.3, 0.8])
    p.update_state([0, 1, 1, 1, 0], [0.6, 0.9, 0.4, 0.7, 0.1])
    assert p.result() == pytest.approx([3 / 4, 1.0])
    assert metrics.Precision().result() == 0.0
    assert metrics.Recall().result() == 0.0


def test_precision_top_k_and_class_id():
    y_true = np.array([[0, 0, 1, 1], [1, 0, 0, 0]])
    y_pred = np.array([[0.1, 0.2, 0.9, 0.6], [0.3, 0.35, 0.25, 0.1]])
    top1 = metrics.Precision(top_k=1)  # row 0 picks class 2 (right), row 1 picks class 1 (wrong)
    top1.update_state(y_true, y_pred)
    assert top1.result() == pytest.approx(0.5)
    recall_top2 = metrics.Recall(top_k=2)  # picks {2, 3} and {0, 1}: all 3 positives found
    recall_top2.update_state(y_true, y_pred)
    assert recall_top2.result() == pytest.approx(1.0)
    class0 = metrics.Recall(class_id=0)  # column 0: one positive scored 0.3 < 0.5
    class0.update_state(y_true, y_pred)
    assert class0.result() == 0.0


# -- get ------------------------------------------------------------------------------------------
class SparseCategoricalCrossentropy:  # a loss object from elsewhere, recognised by its class name
    def __call__(self, y_true, y_pred):
        return 0.0


class CategoricalCrossentropy:
    def __call__(self, y_true, y_pred):
        return 0.0


def binary_crossentropy(y_true, y_pred):
    return 0.0


@pytest.mark.parametrize("identifier", ["accuracy", "acc"])
@pytest.mark.parametrize("loss, output_shape, expected", [
    ("sparse_categorical_crossentropy", (None, 10), metrics.SparseCategoricalAccuracy),
    (SparseCategoricalCrossentropy(), (None, 10), metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", (None, 10), metrics.CategoricalAccuracy),
    (CategoricalCrossentropy(), None, metrics.CategoricalAccuracy),
    ("binary_crossentropy", (None, 4), metrics.BinaryAccuracy),
    (binary_crossentropy, None, metrics.BinaryAccuracy),
    ("mse", (None, 1), metrics.BinaryAccuracy),
    ("sparse_categorical_crossentropy", (None, 1), metrics.BinaryAccuracy),
    (None, (None, 5), metrics.CategoricalAccuracy),
])
def test_get_accuracy_resolution(identifier, loss, output_shape, expected):
    m = metrics.get(identifier, loss=loss, output_shape=output_shape)
    assert type(m) is expected
    assert m.name == identifier


@pytest.mark.parametrize("identifier, cls", [
    ("mae", metrics.MeanAbsoluteError), ("mean_absolute_error", metrics.MeanAbsoluteError),
    ("mse", metrics.MeanSquaredError), ("mean_squared_error", metrics.MeanSquaredError),
    ("auc", metrics.AUC), ("precision", metrics.Precision), ("recall", metrics.Recall),
    ("binary_accuracy", metrics.BinaryAccuracy), ("sparse_categorical_accuracy", metrics.SparseCategoricalAccuracy),
    ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy),
])
def test_get_strings_keep_the_users_name(identifier, cls):
    m = metrics.get(identifier)
    assert type(m) is cls
    assert m.name == identifier


def test_get_other_identifiers():
    auc = metrics.AUC(num_thresholds=10)
    assert metrics.get(auc) is auc
    assert metrics.get(None) is None
    assert type(metrics.get("AUC")) is metrics.AUC and metrics.get("AUC").name == "auc"
    assert type(metrics.get(metrics.Recall)) is metrics.Recall

    def hits(y_true, y_pred):
        return (np.asarray(y_true) == np.asarray(y_pred)).astype(float)

    wrapped = metrics.get(hits)
    assert wrapped.name == "hits"
    wrapped.update_state([1, 2, 3, 4], [1, 2, 0, 0])
    assert wrapped.result() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="Did you mean 'accuracy'"):
        metrics.get("acuracy")
    with pytest.raises(TypeError):
        metrics.get(3)


def test_serialize_round_trip():
    m = metrics.BinaryAccuracy(name="acc", threshold=0.3)
    again = metrics.deserialize(metrics.serialize(m))
    assert type(again) is metrics.BinaryAccuracy and again.name == "acc" and again.threshold == 0.3
    auc = metrics.deserialize(metrics.serialize(metrics.AUC(num_thresholds=7, curve="PR")))
    assert auc.num_thresholds == 7 and auc.curve == "PR"


def test_get_recognises_graphc_loss_objects():
    losses = pytest.importorskip("graphc.losses")
    cases = [(losses.SparseCategoricalCrossentropy(from_logits=True), metrics.SparseCategoricalAccuracy),
             (losses.CategoricalCrossentropy(from_logits=True), metrics.CategoricalAccuracy),
             (losses.BinaryCrossentropy(), metrics.BinaryAccuracy),
             (losses.LossFunctionWrapper(losses.binary_crossentropy), metrics.BinaryAccuracy)]
    for loss, expected in cases:
        assert type(metrics.get("acc", loss=loss, output_shape=(None, 4))) is expected


def test_sum():
    s = metrics.Sum()
    s.update_state([1.0, 2.0])
    s.update_state([3.0], sample_weight=[2.0])
    assert s.result() == pytest.approx(9.0)
    s.reset_state()
    assert s.result() == 0.0
