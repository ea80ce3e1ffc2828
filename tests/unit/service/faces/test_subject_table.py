"""Subject codes: first enrolment first, dead when the last face goes, renumbered in bulk."""

from __future__ import annotations

import numpy as np

from service.faces.subject_table import SubjectTable


def test_codes_follow_first_enrolment_and_count_faces() -> None:
    table = SubjectTable()
    codes = table.add_faces(["bob", "ann", "bob"])
    assert codes.tolist() == [0, 1, 0] and table.names == ["bob", "ann"]
    assert table.add_faces(["ann", "carl"]).tolist() == [1, 2]
    table.remove_faces(np.array([0], np.int32))
    assert "bob" in table  # one of bob's two faces is left
    table.remove_faces(np.array([0], np.int32))
    assert "bob" not in table and len(table) == 2 and table.code("bob") is None
    assert table.add_faces(["bob"]).tolist() == [3]  # enrolled again: last in order now
    assert table.names[0] == "bob"  # the dead code keeps its name for older snapshots


def test_register_orders_names_before_any_face_is_counted() -> None:
    table = SubjectTable()
    table.register(["carl", "ann"])
    assert table.add_faces(["ann", "carl", "dan"]).tolist() == [1, 0, 2]


def test_compaction_drops_dead_codes_and_keeps_the_order() -> None:
    table = SubjectTable()
    names = [f"s{i}" for i in range(3000)]
    codes = table.add_faces(names)
    assert table.compacted() is None  # nothing dead yet
    table.remove_faces(codes[codes % 3 != 2])  # two thirds of the subjects go
    compacted = table.compacted()
    assert compacted is not None
    fresh, remap = compacted
    assert fresh.names == names[2::3] and len(fresh) == 1000
    assert remap[codes[2::3]].tolist() == list(range(1000))
    fresh.remove_faces(remap[codes[2:3]])  # the counts came along
    assert "s2" not in fresh and "s5" in fresh
