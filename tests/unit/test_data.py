"""Unit tests of lava_sleep.data: IDX files, .npz, digits, notMNIST folders, resampling,
seeded splits and checksummed downloads. All inputs are generated here (no network)."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import urllib.error

import numpy as np
import pytest

from lava_sleep import rng
from lava_sleep.data import (
    DATASETS,
    DataError,
    Dataset,
    load_dataset,
    load_npz,
    notmnist,
    read_idx,
    resize_images,
    save_npz,
    split_dataset,
    write_idx,
)
from lava_sleep.data import datasets as dsmod
from lava_sleep.data import download as dl
from lava_sleep.errors import UserError


# ----------------------------------------------------------------------------- helpers
def make_split(n, h=6, w=6, seed=0, n_classes=10):
    g = np.random.default_rng(seed)
    images = g.integers(0, 256, size=(n, h, w), dtype=np.uint8)
    labels = np.arange(n, dtype=np.uint8) % n_classes
    return images, labels


def write_idx_folder(folder, splits=("train", "test"), gz=True, n=(12, 7)):
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, count in zip(("train", "test"), n, strict=True):
        if split not in splits:
            continue
        images, labels = make_split(count, seed=len(split))
        prefix = "train" if split == "train" else "t10k"
        ext = ".gz" if gz else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels)
        out[split] = (images, labels)
    return out


def indexed_dataset(labels, name="toy"):
    """A dataset whose image i stores i in its first two pixels (to identify selections)."""
    n = len(labels)
    images = np.zeros((n, 2, 2), dtype=np.uint8)
    images[:, 0, 0] = np.arange(n) // 256
    images[:, 0, 1] = np.arange(n) % 256
    n_classes = int(np.max(labels)) + 1
    return Dataset(
        images=images, labels=np.asarray(labels), name=name, classes=[str(i) for i in range(n_classes)]
    )


def ids(ds):
    return ds.images[:, 0, 0].astype(np.int64) * 256 + ds.images[:, 0, 1]


# ----------------------------------------------------------------------------- IDX
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    arr = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    if dtype == np.uint8:
        arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10
    path = write_idx(tmp_path / f"x-idx3{suffix}", arr)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == (suffix == ".gz")
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, arr)


def test_idx_header_bytes_by_hand(tmp_path):
    p = write_idx(tmp_path / "a", np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8))
    assert p.read_bytes() == bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6])
    p = write_idx(tmp_path / "b", np.array([258, -2], dtype=np.int16))
    assert p.read_bytes() == bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE])
    # gzip output carries no time stamp: equal arrays, equal bytes
    a = write_idx(tmp_path / "c.gz", np.arange(5, dtype=np.uint8)).read_bytes()
    b = write_idx(tmp_path / "d.gz", np.arange(5, dtype=np.uint8)).read_bytes()
    assert a == b and gzip.decompress(a)[:4] == bytes([0, 0, 8, 1])


def _idx_file(tmp_path, data: bytes, name="bad-idx", gz=False):
    p = tmp_path / (name + (".gz" if gz else ""))
    p.write_bytes(gzip.compress(data) if gz else data)
    return p


@pytest.mark.parametrize("gz", [False, True])
def test_idx_errors_name_file_and_problem(tmp_path, gz):
    good = bytes([0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3, 4])
    cases = {
        "magic": (bytes([1]) + good[1:], "bad IDX magic number 0x01000801"),
        "type": (good[:2] + bytes([7]) + good[3:], "unknown IDX element type 0x07"),
        "trunc": (good[:-1], "truncated IDX data: shape (4,) of uint8 needs 4 bytes, found 3"),
        "trail": (good + b"\x00\x00", "2 unexpected trailing bytes"),
        "header": (bytes([0, 0, 8, 3, 0, 0, 0, 4]), "truncated IDX header"),
        "tiny": (b"\x00\x00", "not an IDX file"),
        "zerodim": (bytes([0, 0, 8, 0]), "0 dimensions"),
    }
    for key, (data, msg) in cases.items():
        p = _idx_file(tmp_path, data, name=f"{key}-idx", gz=gz)
        with pytest.raises(DataError) as exc:
            read_idx(p)
        text = str(exc.value)
        assert msg in text and str(p) in text and "\n" not in text


def test_idx_broken_gzip_and_missing(tmp_path):
    p = write_idx(tmp_path / "t.gz", np.arange(1000, dtype=np.uint8) % 7)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(p.read_bytes()[:-12])
    with pytest.raises(DataError, match="truncated gzip stream"):
        read_idx(cut)
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"\x1f\x8b" + b"garbage" * 5)
    with pytest.raises(DataError, match="corrupted gzip data"):
        read_idx(bad)
    with pytest.raises(DataError, match="file not found"):
        read_idx(tmp_path / "nope")
    assert issubclass(DataError, UserError) and issubclass(DataError, ValueError)


def test_idx_folder_subsets(tmp_path):
    made = write_idx_folder(tmp_path / "d", gz=True)
    ds = load_dataset(tmp_path / "d")
    assert len(ds) == 19 and ds.images.dtype == np.uint8 and ds.labels.dtype == np.int64
    np.testing.assert_array_equal(ds.images, np.concatenate([made["train"][0], made["test"][0]]))
    np.testing.assert_array_equal(ds.labels, np.concatenate([made["train"][1], made["test"][1]]))
    assert ds.classes == tuple(str(i) for i in range(10))
    assert [p.split("/")[-1] for p in ds.source] == [
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
    ]  # fmt: skip
    np.testing.assert_array_equal(load_dataset(str(tmp_path / "d"), subset="test").images, made["test"][0])
    np.testing.assert_array_equal(load_dataset(str(tmp_path / "d"), subset="train").labels, made["train"][1])


def test_idx_folder_only_test_files_raw(tmp_path):
    made = write_idx_folder(tmp_path / "mnist", splits=("test",), gz=False)
    # named dataset, data_dir pointing at the parent: the 'mnist' subfolder is used
    ds = load_dataset("MNIST", data_dir=tmp_path, subset="test")
    assert ds.name == "mnist" and ds.classes == tuple("0123456789")
    np.testing.assert_array_equal(ds.images, made["test"][0])
    assert len(load_dataset("mnist", data_dir=tmp_path / "mnist", subset="all")) == 7
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\[\.gz\]: file not found .*'train' missing"):
        load_dataset("mnist", data_dir=tmp_path / "mnist", subset="train")


def test_idx_count_mismatch_and_shapes(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write_idx(d / "t10k-images-idx3-ubyte.gz", np.zeros((5, 4, 4), np.uint8))
    write_idx(d / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(
        DataError, match=r"t10k-labels-idx1-ubyte.gz: 4 labels but t10k-images-idx3-ubyte.gz holds 5"
    ):
        load_dataset(d)
    write_idx(d / "t10k-images-idx3-ubyte.gz", np.zeros((4, 16), np.uint8))
    with pytest.raises(DataError, match=r"expected uint8 images of shape \(N, H, W\), found uint8 \(4, 16\)"):
        load_dataset(d)
    write_idx(d / "t10k-images-idx3-ubyte.gz", np.zeros((4, 4, 4), np.uint8))
    write_idx(d / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 10], np.uint8))
    with pytest.raises(DataError, match="label 10 out of range for 10 classes"):
        load_dataset("fashion-mnist", data_dir=d)
    assert len(load_dataset(d)) == 4 and len(load_dataset(d).classes) == 11  # unnamed: classes from labels


# ----------------------------------------------------------------------------- npz
def test_npz_valid_3d_flat_and_classes(tmp_path):
    images, labels = make_split(10, 4, 4)
    np.savez(tmp_path / "a.npz", images=images, labels=labels.astype(np.int32))
    ds = load_dataset(tmp_path / "a.npz")
    np.testing.assert_array_equal(ds.images, images)
    assert ds.labels.dtype == np.int64 and ds.classes == tuple("0123456789")
    np.savez(tmp_path / "b.npz", images=images.reshape(10, 16), labels=labels)
    np.testing.assert_array_equal(load_dataset(str(tmp_path / "b.npz")).images, images)
    ds2 = Dataset(images=images, labels=labels % 3, name="x", classes=("cat", "dog", "emu"))
    save_npz(ds2, tmp_path / "c.npz")
    back = load_npz(tmp_path / "c.npz")
    assert back.classes == ("cat", "dog", "emu")
    np.testing.assert_array_equal(back.labels, labels % 3)
    # fixed split of datasets without an official one: every 5th image is held out
    test = load_npz(tmp_path / "a.npz", subset="test")
    train = load_npz(tmp_path / "a.npz", subset="train")
    np.testing.assert_array_equal(test.images, images[[4, 9]])
    np.testing.assert_array_equal(train.images, images[[0, 1, 2, 3, 5, 6, 7, 8]])


def test_npz_invalid(tmp_path):
    images, labels = make_split(6, 3, 3)
    bad = {
        "float": (dict(images=images.astype(np.float32), labels=labels), "'images' must be uint8"),
        "flat": (dict(images=images.reshape(6, 9)[:, :8], labels=labels), "8 is not a square"),
        "ndim": (dict(images=images[None], labels=labels), r"must have shape \(N, H, W\)"),
        "nolab": (dict(images=images), "missing array 'labels' \\(found: images\\)"),
        "count": (dict(images=images, labels=labels[:5]), "6 images but 5 labels"),
        "neg": (dict(images=images, labels=labels.astype(np.int64) - 1), "negative label -1"),
        "flab": (dict(images=images, labels=labels.astype(float)), "'labels' must be a 1-D integer array"),
        "cls": (dict(images=images, labels=labels, classes=np.array(["a", "b"])), "label 5 out of range"),
        "empty": (dict(images=images[:0], labels=labels[:0]), "holds no images"),
    }
    for key, (arrays, msg) in bad.items():
        np.savez(tmp_path / f"{key}.npz", **arrays)
        with pytest.raises(DataError, match=msg) as exc:
            load_dataset(tmp_path / f"{key}.npz")
        assert str(tmp_path / f"{key}.npz") in str(exc.value)
    (tmp_path / "junk.npz").write_bytes(b"this is not a zip file")
    with pytest.raises(DataError, match="not a readable .npz file"):
        load_dataset(tmp_path / "junk.npz")
    np.save(tmp_path / "single.npy", images)
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    with pytest.raises(DataError, match="holds a single array"):
        load_dataset(tmp_path / "single.npz")


# ----------------------------------------------------------------------------- names, paths, Dataset
def test_unknown_name_missing_paths_and_subset(tmp_path):
    assert list(DATASETS) == ["digits", "mnist", "fashion-mnist", "kmnist", "notmnist"]
    with pytest.raises(
        DataError, match="unknown dataset 'cifar'; known: digits, mnist, fashion-mnist, kmnist"
    ):
        load_dataset("cifar")
    with pytest.raises(DataError, match="no such file or folder"):
        load_dataset(tmp_path / "nothing")
    with pytest.raises(DataError, match="no such file or folder"):
        load_dataset("missing.npz")
    with pytest.raises(DataError, match="data folder not found"):
        load_dataset("mnist", data_dir=tmp_path / "nothing")
    with pytest.raises(DataError, match="no IDX files .* or letter folders"):
        load_dataset(tmp_path)
    with pytest.raises(DataError, match="unknown subset 'val'"):
        load_dataset("digits", subset="val")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="unsupported file type"):
        load_dataset(tmp_path / "x.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\[\.gz\]: file not found \(kmnist: no IDX"):
        load_dataset("kmnist", data_dir=tmp_path / "empty", subset="test")


def test_dataset_methods_and_validation():
    images = np.arange(3 * 2 * 3, dtype=np.uint8).reshape(3, 2, 3)
    ds = Dataset(images=images, labels=[2, 0, 1], name="t", classes=("a", "b", "c"))
    assert len(ds) == 3 and ds.labels.dtype == np.int64 and ds.shape == (2, 3)
    np.testing.assert_array_equal(ds.flat()[1], [6, 7, 8, 9, 10, 11])
    sub = ds.subset([2, 0])
    np.testing.assert_array_equal(sub.labels, [1, 2])
    np.testing.assert_array_equal(sub.images[0], images[2])
    np.testing.assert_array_equal(ds.subset(np.array([True, False, True])).labels, [2, 1])
    np.testing.assert_array_equal(ds.class_counts(), [1, 1, 1])
    assert "t: 3 images 2x3, 3 classes" in ds.summary()
    with pytest.raises(DataError, match="images must be a uint8 array"):
        Dataset(images=images.astype(float), labels=[0, 0, 0], name="t", classes=("a",))
    with pytest.raises(DataError, match="3 images but 2 labels"):
        Dataset(images=images, labels=[0, 0], name="t", classes=("a",))
    with pytest.raises(DataError, match=r"labels must lie in \[0, 2\)"):
        Dataset(images=images, labels=[0, 1, 2], name="t", classes=("a", "b"))


# ----------------------------------------------------------------------------- digits
def test_digits_embedded():
    from sklearn.datasets import load_digits

    ds = load_dataset("digits")
    assert ds.images.shape == (1797, 8, 8) and ds.images.dtype == np.uint8
    assert ds.classes == tuple("0123456789") and set(np.unique(ds.labels)) == set(range(10))
    raw = load_digits().images
    # scaling 0..16 -> 0..255, round half up: 0 -> 0, 8 -> 128, 16 -> 255, 1 -> 16 (15.94)
    for v, expected in [(0, 0), (1, 16), (8, 128), (16, 255)]:
        assert np.all(ds.images[raw == v] == expected)
    train, test = load_dataset("digits", subset="train"), load_dataset("digits", subset="test")
    assert (len(train), len(test)) == (1438, 359)
    np.testing.assert_array_equal(test.images, ds.images[4::5])
    np.testing.assert_array_equal(np.concatenate([train.labels, test.labels]).sum(), ds.labels.sum())


# ----------------------------------------------------------------------------- resize
def test_resize_downsample_4x4_to_2x2_by_hand():
    img = np.array(
        [[0, 10, 1, 1],
         [20, 30, 0, 0],
         [1, 1, 255, 255],
         [1, 0, 255, 254]], dtype=np.uint8)  # fmt: skip
    out = resize_images(img[None], 2)
    # block means 15, 0.5 (-> 1, half up), 0.75 (-> 1), 254.75 (-> 255)
    np.testing.assert_array_equal(out[0], [[15, 1], [1, 255]])
    assert out.dtype == np.uint8 and out.shape == (1, 2, 2)


def test_resize_upsample_and_fractional_by_hand():
    img = np.array([[0, 100], [200, 50]], dtype=np.uint8)
    np.testing.assert_array_equal(resize_images(img[None], 4)[0], np.kron(img, np.ones((2, 2), np.uint8)))
    # 2 -> 3: the middle output pixel straddles both inputs (half each)
    expected = [[0, 50, 100], [100, 88, 75], [200, 125, 50]]  # 87.5 -> 88 (half up)
    np.testing.assert_array_equal(resize_images(img[None], 3)[0], expected)
    # 3 -> 2 along one axis: output pixel 0 = (1 * x0 + 0.5 * x1) / 1.5
    row = np.array([[[0, 90, 180], [0, 90, 180], [0, 90, 180]]], dtype=np.uint8)
    np.testing.assert_array_equal(resize_images(row, 2)[0], [[30, 150], [30, 150]])


def test_resize_properties():
    g = np.random.default_rng(3)
    imgs = g.integers(0, 256, size=(9, 28, 28), dtype=np.uint8)
    out = resize_images(imgs, 15)
    assert out.shape == (9, 15, 15) and out.dtype == np.uint8
    # integer factor: equals the rounded (half up) 2x2 block mean
    blocks = imgs.astype(np.int64).reshape(9, 14, 2, 14, 2).sum(axis=(2, 4))
    np.testing.assert_array_equal(resize_images(imgs, 14), (2 * blocks + 4) // 8)
    const = np.full((2, 7, 5), 77, np.uint8)
    for size in (1, 3, 15, 28):
        assert np.all(resize_images(const, size) == 77)
    same = resize_images(imgs, 28)
    np.testing.assert_array_equal(same, imgs)
    assert same is not imgs
    np.testing.assert_array_equal(
        resize_images(imgs, 1)[:, 0, 0], (2 * imgs.astype(np.int64).sum((1, 2)) + 784) // 1568
    )
    np.testing.assert_array_equal(resize_images(imgs, 15), resize_images(imgs, 15))
    with pytest.raises(DataError, match="uint8 array"):
        resize_images(imgs.astype(np.float32), 15)
    with pytest.raises(DataError, match="size must be an integer >= 1"):
        resize_images(imgs, 0)


# ----------------------------------------------------------------------------- split
def test_split_follows_split_stream_and_is_disjoint():
    labels = np.arange(300) % 10
    ds = indexed_dataset(labels)
    train, test = split_dataset(ds, 40, 20, seed=5, stratified=False)
    k = rng.key(5, rng.Stream.SPLIT, 0)
    order = np.argsort(rng.uniform_u32(k, np.arange(300, dtype=np.int64)), kind="stable")
    np.testing.assert_array_equal(ids(train), order[:40])
    np.testing.assert_array_equal(ids(test), order[40:60])
    np.testing.assert_array_equal(train.labels, labels[order[:40]])


def test_split_stratified_counts_balanced_and_proportional():
    ds = indexed_dataset(np.arange(500) % 10)
    train, test = split_dataset(ds, 100, 50, seed=1)
    np.testing.assert_array_equal(train.class_counts(), [10] * 10)
    np.testing.assert_array_equal(test.class_counts(), [5] * 10)
    assert not set(ids(train)) & set(ids(test))
    # unbalanced pool 60/30/10: train 10 -> 6/3/1; held-out 20 from the rest 54/27/9 -> 12/6/2
    ub = indexed_dataset(np.repeat([0, 1, 2], [60, 30, 10]))
    tr, te = split_dataset(ub, 10, 20, seed=2)
    np.testing.assert_array_equal(tr.class_counts(), [6, 3, 1])
    np.testing.assert_array_equal(te.class_counts(), [12, 6, 2])
    # remainders go to the largest fractions: 7 over 60/30/10 -> 4.2/2.1/0.7 -> 4/2/1
    np.testing.assert_array_equal(split_dataset(ub, 7, 0, seed=2)[0].class_counts(), [4, 2, 1])
    # everything: all images used exactly once
    tr, te = split_dataset(ub, 70, 30, seed=3)
    assert sorted(np.concatenate([ids(tr), ids(te)])) == list(range(100))


def test_split_seeds_classes_and_errors():
    ds = indexed_dataset(np.arange(400) % 4)
    a = split_dataset(ds, 30, 10, seed=7)
    b = split_dataset(ds, 30, 10, seed=7)
    c = split_dataset(ds, 30, 10, seed=8)
    np.testing.assert_array_equal(ids(a[0]), ids(b[0]))
    np.testing.assert_array_equal(ids(a[1]), ids(b[1]))
    assert not np.array_equal(ids(a[0]), ids(c[0]))
    tr, te = split_dataset(ds, 20, 10, seed=0, classes=[1, 3])
    assert set(tr.labels) == {1, 3} and set(te.labels) == {1, 3} and tr.classes == ds.classes
    np.testing.assert_array_equal(tr.class_counts(), [0, 10, 0, 10])
    with pytest.raises(
        DataError, match="cannot take 150 training \\+ 60 held-out images, only 200 images of classes"
    ):
        split_dataset(ds, 150, 60, seed=0, classes=[0, 2])
    with pytest.raises(DataError, match=r"classes \[4\] do not exist"):
        split_dataset(ds, 1, 1, seed=0, classes=[0, 4])
    with pytest.raises(DataError, match="n_train must be an integer >= 0"):
        split_dataset(ds, -1, 1, seed=0)
    with pytest.raises(DataError, match="seed must be an integer"):
        split_dataset(ds, 1, 1, seed=2**32)


# ----------------------------------------------------------------------------- download
def _resource_for(path, url=None, **kw):
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    return dl.Resource(filename=kw.pop("filename", path.name), urls=(url or path.as_uri(),), sha256=sha, **kw)


def test_fetch_file_url_and_checksum_mismatch(tmp_path):
    src = tmp_path / "src" / "blob.bin"
    src.parent.mkdir()
    src.write_bytes(b"lava-sleep" * 1000)
    res = _resource_for(src, md5=hashlib.md5(src.read_bytes()).hexdigest(), size=10000)
    got = dl.fetch(res, tmp_path / "cache", quiet=True)
    assert got == tmp_path / "cache" / "blob.bin" and got.read_bytes() == src.read_bytes()
    assert dl.fetch(res, tmp_path / "cache", quiet=True) == got  # present: verified, not downloaded again
    wrong = dl.Resource(filename="other.bin", urls=(src.as_uri(),), sha256="0" * 64)
    with pytest.raises(
        DataError,
        match=r"cannot download other.bin: .*checksum mismatch: sha256 [0-9a-f]{64}, expected 0{64}",
    ):
        dl.fetch(wrong, tmp_path / "cache", quiet=True)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["blob.bin"]  # no partial files left
    bad_size = dl.Resource(filename="s.bin", urls=(src.as_uri(),), sha256=res.sha256, size=9999)
    with pytest.raises(DataError, match="size 10000 bytes, expected 9999"):
        dl.fetch(bad_size, tmp_path / "cache", quiet=True)
    # a corrupted file already in the cache is reported, not silently used
    got.write_bytes(b"X" * 10000)  # same size, other content
    with pytest.raises(DataError, match="blob.bin: .*checksum mismatch.*delete it to download it again"):
        dl.fetch(res, tmp_path / "cache", quiet=True)


def test_fetch_mirrors_and_network_errors(tmp_path, monkeypatch):
    src = tmp_path / "blob.bin"
    src.write_bytes(b"x" * 100)
    missing = (tmp_path / "nothing.bin").as_uri()
    res = dl.Resource(
        filename="blob.bin", urls=(missing, src.as_uri()), sha256=hashlib.sha256(b"x" * 100).hexdigest()
    )
    assert (
        dl.fetch(res, tmp_path / "c1", quiet=True).read_bytes() == b"x" * 100
    )  # first mirror fails, second works

    def offline(url, timeout):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(dl, "_urlopen", offline)
    res2 = dl.Resource(
        filename="f.gz", urls=("https://a.example/f.gz", "https://b.example/f.gz"), sha256="1" * 64
    )
    with pytest.raises(DataError) as exc:
        dl.fetch(res2, tmp_path / "c2", quiet=True)
    msg = str(exc.value)
    assert msg.startswith(
        "cannot download f.gz: https://a.example/f.gz: Temporary failure in name resolution; "
    )
    assert "https://b.example/f.gz" in msg and "offline?" in msg and "\n" not in msg
    assert list((tmp_path / "c2").iterdir()) == []

    def http_404(url, timeout):
        raise urllib.error.HTTPError(url, 404, "Not Found", None, None)

    monkeypatch.setattr(dl, "_urlopen", http_404)
    with pytest.raises(DataError, match="HTTP 404 Not Found"):
        dl.fetch(res2, tmp_path / "c2", quiet=True)


def test_cache_dir_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LAVA_SLEEP_DATA", str(tmp_path / "store"))
    assert dl.cache_dir("kmnist") == tmp_path / "store" / "kmnist"
    monkeypatch.delenv("LAVA_SLEEP_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert dl.cache_dir("mnist") == tmp_path / "xdg" / "lava-sleep" / "mnist"


def test_registry_checksums_are_well_formed():
    for spec in dsmod.IDX_SPECS.values():
        assert set(spec.checksums) == {s for stems in dsmod.SPLIT_STEMS.values() for s in stems}
        for stem in spec.checksums:
            res = spec.resource(stem)
            assert len(res.sha256) == 64 and len(res.md5) == 32 and res.filename == stem + ".gz"
            assert all(u.endswith("/" + res.filename) and u.startswith("http") for u in res.urls)
    assert len(notmnist.ARCHIVE.md5) == 32 and notmnist.ARCHIVE.urls[0].endswith("notMNIST_small.tar.gz")


def test_named_dataset_downloads_into_cache(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    made = write_idx_folder(mirror, gz=True)
    checks = {}
    for f in mirror.iterdir():
        data = f.read_bytes()
        checks[f.name[:-3]] = (hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest())
    spec = dsmod.IdxSpec("mnist", "test mirror", tuple("0123456789"), (mirror.as_uri() + "/",), checks)
    monkeypatch.setitem(dsmod.IDX_SPECS, "mnist", spec)
    monkeypatch.setenv("LAVA_SLEEP_DATA", str(tmp_path / "cache"))
    with pytest.raises(DataError, match=r"cache folder not found \(mnist; download is off\)"):
        load_dataset("mnist", download=False)
    test = load_dataset("mnist", subset="test")  # downloads only the t10k files
    np.testing.assert_array_equal(test.images, made["test"][0])
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]  # fmt: skip
    assert len(load_dataset("mnist", download=False)) == 7  # 'all' = whatever is cached
    assert len(load_dataset("mnist")) == 19  # downloads the train files too
    cached = tmp_path / "cache" / "mnist" / "train-labels-idx1-ubyte.gz"
    cached.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x00"))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: checksum mismatch"):
        load_dataset("mnist", subset="train")


# ----------------------------------------------------------------------------- notMNIST
def _png(arr):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _letter_tree(g):
    """{(letter, filename): bytes} with 2 valid 5x5 images per letter A..C plus 3 bad files."""
    files, truth = {}, []
    for li, letter in enumerate("ABC"):
        for k in range(2):
            img = g.integers(0, 256, size=(5, 5), dtype=np.uint8)
            files[(letter, f"img{k}.png")] = _png(img)
            truth.append((li, img))
    files[("A", "empty.png")] = b""
    files[("B", "broken.png")] = _png(np.zeros((5, 5), np.uint8))[:30]
    files[("C", "big.png")] = _png(np.zeros((6, 6), np.uint8))  # wrong size: skipped
    return files, truth


def test_notmnist_folder_and_archive(tmp_path):
    files, truth = _letter_tree(np.random.default_rng(0))
    root = tmp_path / "nm" / "notMNIST_small"
    for (letter, fn), data in files.items():
        (root / letter).mkdir(parents=True, exist_ok=True)
        (root / letter / fn).write_bytes(data)
    with pytest.warns(UserWarning, match="skipped 3 unreadable image files"):
        ds = load_dataset("notmnist", data_dir=tmp_path / "nm")
    assert ds.classes == tuple("ABCDEFGHIJ") and ds.skipped == 3 and ds.images.shape == (6, 5, 5)
    np.testing.assert_array_equal(ds.labels, [t[0] for t in truth])
    np.testing.assert_array_equal(ds.images, np.stack([t[1] for t in truth]))
    arc = tmp_path / "notMNIST_small.tar.gz"
    with tarfile.open(arc, "w:gz") as tar:
        tar.add(root, arcname="notMNIST_small")
    with pytest.warns(UserWarning):
        from_tar = load_dataset(arc)
    np.testing.assert_array_equal(from_tar.images, ds.images)
    np.testing.assert_array_equal(from_tar.labels, ds.labels)
    (tmp_path / "broken.tar.gz").write_bytes(arc.read_bytes()[:200])
    with pytest.raises(DataError, match="broken.tar.gz: corrupted or unreadable tar archive"):
        load_dataset(tmp_path / "broken.tar.gz")


def test_notmnist_download_decode_and_cache(tmp_path, monkeypatch):
    files, truth = _letter_tree(np.random.default_rng(1))
    src = tmp_path / "src" / "notMNIST_small.tar.gz"
    src.parent.mkdir()
    with tarfile.open(src, "w:gz") as tar:
        for (letter, fn), data in files.items():
            info = tarfile.TarInfo(f"notMNIST_small/{letter}/{fn}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = src.read_bytes()
    res = dl.Resource(
        filename=src.name, urls=(src.as_uri(),), md5=hashlib.md5(data).hexdigest(), size=len(data)
    )
    monkeypatch.setattr(notmnist, "ARCHIVE", res)
    monkeypatch.setenv("LAVA_SLEEP_DATA", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="notmnist: not in the cache and download is off"):
        load_dataset("notmnist", download=False)
    with pytest.warns(UserWarning, match="skipped 3"):
        ds = load_dataset("notmnist")
    np.testing.assert_array_equal(ds.images, np.stack([t[1] for t in truth]))
    npz = tmp_path / "cache" / "notmnist" / notmnist.CACHE_NPZ
    assert npz.is_file()
    again = load_dataset("notmnist", download=False, subset="all")  # from the decoded cache
    assert again.source == (str(npz),) and again.skipped == 3
    np.testing.assert_array_equal(again.images, ds.images)
    assert len(load_dataset("notmnist", subset="test")) == 1  # 6 images: index 4 held out
