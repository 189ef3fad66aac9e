import io
import stat
import zipfile
from pathlib import Path

import pytest

from mmrec_core.catalog import Limits, load_catalog, safe_extract
from mmrec_core.errors import CatalogError


def test_broken_rows_are_reported_and_good_items_kept(tiny_catalog):
    cat = load_catalog(tiny_catalog)
    ids = [it.id for it in cat.items]
    assert ids == ["red", "blue", "green", "rain", "poem", "broken-img", "broken-snd", "missing"]
    reasons = {(p.item_id, p.modality): p.reason for p in cat.problems}
    assert "duplicate id" in reasons[("red", "row")]
    assert "not found" in reasons[("missing", "image")]
    red = cat.items[0]
    assert red.text == "Red ball. a round red ball"
    assert red.tags == ("toys", "round")
    assert red.metadata == {"colour": "red"}
    assert red.image is not None and red.image.is_file()
    assert cat.items[3].image is None and cat.items[3].audio is not None


def write(tmp_path: Path, text: str | bytes) -> Path:
    p = tmp_path / "catalog.csv"
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return tmp_path


def test_bad_csv_errors(tmp_path):
    with pytest.raises(CatalogError, match="no 'id' column; found columns: 'name', 'title'"):
        load_catalog(write(tmp_path, "name,title\n1,x\n"))
    with pytest.raises(CatalogError, match="empty"):
        load_catalog(write(tmp_path, ""))
    (tmp_path / "nothing-here").mkdir()
    with pytest.raises(CatalogError, match="no catalog.csv"):
        load_catalog(tmp_path / "nothing-here")
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog(tmp_path / "missing")


def test_encoding_bom_nul_and_unsafe_paths(tmp_path):
    raw = "\ufeffid,title,image\n".encode() + b"a,caf\xe9 au lait,\nb,ok\x00ay,../outside.png\nc,abs,/etc/passwd.png\n,no id,\n"
    cat = load_catalog(write(tmp_path, raw))
    assert [it.id for it in cat.items] == ["a", "b", "c"]
    got = {(p.item_id, p.modality) for p in cat.problems}
    assert {("a", "text"), ("*", "file"), ("b", "image"), ("c", "image"), ("line 5", "row")} <= got
    assert cat.items[1].title == "okay"


def test_zip_catalog_extracts_inside_workdir(tmp_path, tiny_catalog):
    archive = tmp_path / "cat.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in tiny_catalog.rglob("*"):
            if f.is_file():
                zf.write(f, f"mycat/{f.relative_to(tiny_catalog)}")
    cat = load_catalog(archive, workdir=tmp_path / "work")
    assert len(cat.items) == 8 and cat.root == (tmp_path / "work" / "mycat").resolve()


def zip_with(tmp_path, name, data=b"x", *, symlink=False):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        if symlink:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, data)
    return archive


@pytest.mark.parametrize("name", ["../escape.txt", "/abs/path.txt", "a/../../b.txt"])
def test_zip_slip_refused(tmp_path, name):
    with pytest.raises(CatalogError, match="unsafe path"):
        safe_extract(zip_with(tmp_path, name), tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_zip_symlink_bomb_and_count_refused(tmp_path):
    with pytest.raises(CatalogError, match="symbolic link"):
        safe_extract(zip_with(tmp_path, "link", b"/etc/passwd", symlink=True), tmp_path / "o1")
    with pytest.raises(CatalogError, match="zip bomb"):
        safe_extract(zip_with(tmp_path, "zeros.bin", b"\0" * (20 << 20)), tmp_path / "o2")
    with pytest.raises(CatalogError, match="limit is 10 MB"):
        safe_extract(zip_with(tmp_path, "zeros.bin", b"\0" * (20 << 20)), tmp_path / "o3",
                     limits=Limits(max_total_bytes=10_000_000))
    with pytest.raises(CatalogError, match="not a valid zip"):
        load_catalog(_fake_zip(tmp_path))


def _fake_zip(tmp_path):
    p = tmp_path / "fake.zip"
    p.write_bytes(b"PK\x03\x04 definitely not a zip")
    return p


def test_nested_archive_refused_before_extraction(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("catalog.csv", "id,title\na,A\n")
    archive = tmp_path / "outer.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("catalog.csv", "id,title\nb,B\n")
        zf.writestr("more/inner.ZIP", inner.getvalue())
    with pytest.raises(CatalogError, match="nested archives"):
        load_catalog(archive, workdir=tmp_path / "work")
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").rglob("*.csv"))


def test_item_count_limit(tmp_path):
    (tmp_path / "catalog.csv").write_text("id,title\n" + "".join(f"i{i},t\n" for i in range(11)))
    with pytest.raises(CatalogError, match="11 rows; the limit is 10 items"):
        load_catalog(tmp_path, limits=Limits(max_items=10))
