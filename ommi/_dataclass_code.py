"""The ``__init__`` templates of ``ommi/_dataclasses.py`` for the shapes ommi's own classes have.

Generated, do not edit: ``python -c 'from ommi._dataclasses import write_code; write_code()'``
writes it again (``tests/test_dataclasses.py`` checks that it is current). Only the code
objects are used: the names these bodies call are the globals the decorator gives each method.
"""


# ruff: noqa
# mypy: ignore-errors


def _init_3(self, _ommi_field_0, _ommi_field_1, _ommi_field_2):
    self._ommi_field_0 = _ommi_field_0
    self._ommi_field_1 = _ommi_field_1
    self._ommi_field_2 = _ommi_field_2


def _init_3_2(self, _ommi_field_0, _ommi_field_1, _ommi_field_2):
    self._ommi_field_0 = _ommi_field_0
    self._ommi_field_1 = _ommi_field_1
    self._ommi_field_2 = _ommi_factory_2() if _ommi_field_2 is _ommi_has_factory else _ommi_field_2


def _init_21_20(self, _ommi_field_0, _ommi_field_1, _ommi_field_2, _ommi_field_3, _ommi_field_4, _ommi_field_5, _ommi_field_6, _ommi_field_7, _ommi_field_8, _ommi_field_9, _ommi_field_10, _ommi_field_11, _ommi_field_12, _ommi_field_13, _ommi_field_14, _ommi_field_15, _ommi_field_16, _ommi_field_17, _ommi_field_18, _ommi_field_19, _ommi_field_20):
    self._ommi_field_0 = _ommi_field_0
    self._ommi_field_1 = _ommi_field_1
    self._ommi_field_2 = _ommi_field_2
    self._ommi_field_3 = _ommi_field_3
    self._ommi_field_4 = _ommi_field_4
    self._ommi_field_5 = _ommi_field_5
    self._ommi_field_6 = _ommi_field_6
    self._ommi_field_7 = _ommi_field_7
    self._ommi_field_8 = _ommi_field_8
    self._ommi_field_9 = _ommi_field_9
    self._ommi_field_10 = _ommi_field_10
    self._ommi_field_11 = _ommi_field_11
    self._ommi_field_12 = _ommi_field_12
    self._ommi_field_13 = _ommi_field_13
    self._ommi_field_14 = _ommi_field_14
    self._ommi_field_15 = _ommi_field_15
    self._ommi_field_16 = _ommi_field_16
    self._ommi_field_17 = _ommi_field_17
    self._ommi_field_18 = _ommi_field_18
    self._ommi_field_19 = _ommi_field_19
    self._ommi_field_20 = _ommi_factory_20() if _ommi_field_20 is _ommi_has_factory else _ommi_field_20


def _init_frozen_1(self, _ommi_field_0):
    __ommi_object_setattr__(self, '_ommi_field_0', _ommi_field_0)


def _init_frozen_2(self, _ommi_field_0, _ommi_field_1):
    __ommi_object_setattr__(self, '_ommi_field_0', _ommi_field_0)
    __ommi_object_setattr__(self, '_ommi_field_1', _ommi_field_1)


def _init_frozen_3(self, _ommi_field_0, _ommi_field_1, _ommi_field_2):
    __ommi_object_setattr__(self, '_ommi_field_0', _ommi_field_0)
    __ommi_object_setattr__(self, '_ommi_field_1', _ommi_field_1)
    __ommi_object_setattr__(self, '_ommi_field_2', _ommi_field_2)


def _init_frozen_4(self, _ommi_field_0, _ommi_field_1, _ommi_field_2, _ommi_field_3):
    __ommi_object_setattr__(self, '_ommi_field_0', _ommi_field_0)
    __ommi_object_setattr__(self, '_ommi_field_1', _ommi_field_1)
    __ommi_object_setattr__(self, '_ommi_field_2', _ommi_field_2)
    __ommi_object_setattr__(self, '_ommi_field_3', _ommi_field_3)


def _init_frozen_5(self, _ommi_field_0, _ommi_field_1, _ommi_field_2, _ommi_field_3, _ommi_field_4):
    __ommi_object_setattr__(self, '_ommi_field_0', _ommi_field_0)
    __ommi_object_setattr__(self, '_ommi_field_1', _ommi_field_1)
    __ommi_object_setattr__(self, '_ommi_field_2', _ommi_field_2)
    __ommi_object_setattr__(self, '_ommi_field_3', _ommi_field_3)
    __ommi_object_setattr__(self, '_ommi_field_4', _ommi_field_4)


def _init_frozen_7(self, _ommi_field_0, _ommi_field_1, _ommi_field_2, _ommi_field_3, _ommi_field_4, _ommi_field_5, _ommi_field_6):
    __ommi_object_setattr__(self, '_ommi_field_0', _ommi_field_0)
    __ommi_object_setattr__(self, '_ommi_field_1', _ommi_field_1)
    __ommi_object_setattr__(self, '_ommi_field_2', _ommi_field_2)
    __ommi_object_setattr__(self, '_ommi_field_3', _ommi_field_3)
    __ommi_object_setattr__(self, '_ommi_field_4', _ommi_field_4)
    __ommi_object_setattr__(self, '_ommi_field_5', _ommi_field_5)
    __ommi_object_setattr__(self, '_ommi_field_6', _ommi_field_6)


def _init_frozen_8(self, _ommi_field_0, _ommi_field_1, _ommi_field_2, _ommi_field_3, _ommi_field_4, _ommi_field_5, _ommi_field_6, _ommi_field_7):
    __ommi_object_setattr__(self, '_ommi_field_0', _ommi_field_0)
    __ommi_object_setattr__(self, '_ommi_field_1', _ommi_field_1)
    __ommi_object_setattr__(self, '_ommi_field_2', _ommi_field_2)
    __ommi_object_setattr__(self, '_ommi_field_3', _ommi_field_3)
    __ommi_object_setattr__(self, '_ommi_field_4', _ommi_field_4)
    __ommi_object_setattr__(self, '_ommi_field_5', _ommi_field_5)
    __ommi_object_setattr__(self, '_ommi_field_6', _ommi_field_6)
    __ommi_object_setattr__(self, '_ommi_field_7', _ommi_field_7)


def _init_frozen_9_6(self, _ommi_field_0, _ommi_field_1, _ommi_field_2, _ommi_field_3, _ommi_field_4, _ommi_field_5, _ommi_field_6, _ommi_field_7, _ommi_field_8):
    __ommi_object_setattr__(self, '_ommi_field_0', _ommi_field_0)
    __ommi_object_setattr__(self, '_ommi_field_1', _ommi_field_1)
    __ommi_object_setattr__(self, '_ommi_field_2', _ommi_field_2)
    __ommi_object_setattr__(self, '_ommi_field_3', _ommi_field_3)
    __ommi_object_setattr__(self, '_ommi_field_4', _ommi_field_4)
    __ommi_object_setattr__(self, '_ommi_field_5', _ommi_field_5)
    __ommi_object_setattr__(self, '_ommi_field_6', _ommi_factory_6() if _ommi_field_6 is _ommi_has_factory else _ommi_field_6)
    __ommi_object_setattr__(self, '_ommi_field_7', _ommi_field_7)
    __ommi_object_setattr__(self, '_ommi_field_8', _ommi_field_8)


def _init_frozen_17(self, _ommi_field_0, _ommi_field_1, _ommi_field_2, _ommi_field_3, _ommi_field_4, _ommi_field_5, _ommi_field_6, _ommi_field_7, _ommi_field_8, _ommi_field_9, _ommi_field_10, _ommi_field_11, _ommi_field_12, _ommi_field_13, _ommi_field_14, _ommi_field_15, _ommi_field_16):
    __ommi_object_setattr__(self, '_ommi_field_0', _ommi_field_0)
    __ommi_object_setattr__(self, '_ommi_field_1', _ommi_field_1)
    __ommi_object_setattr__(self, '_ommi_field_2', _ommi_field_2)
    __ommi_object_setattr__(self, '_ommi_field_3', _ommi_field_3)
    __ommi_object_setattr__(self, '_ommi_field_4', _ommi_field_4)
    __ommi_object_setattr__(self, '_ommi_field_5', _ommi_field_5)
    __ommi_object_setattr__(self, '_ommi_field_6', _ommi_field_6)
    __ommi_object_setattr__(self, '_ommi_field_7', _ommi_field_7)
    __ommi_object_setattr__(self, '_ommi_field_8', _ommi_field_8)
    __ommi_object_setattr__(self, '_ommi_field_9', _ommi_field_9)
    __ommi_object_setattr__(self, '_ommi_field_10', _ommi_field_10)
    __ommi_object_setattr__(self, '_ommi_field_11', _ommi_field_11)
    __ommi_object_setattr__(self, '_ommi_field_12', _ommi_field_12)
    __ommi_object_setattr__(self, '_ommi_field_13', _ommi_field_13)
    __ommi_object_setattr__(self, '_ommi_field_14', _ommi_field_14)
    __ommi_object_setattr__(self, '_ommi_field_15', _ommi_field_15)
    __ommi_object_setattr__(self, '_ommi_field_16', _ommi_field_16)


WRITTEN = {
    ('__init__', 3, ()): _init_3,
    ('__init__', 3, ('_ommi_factory_2',)): _init_3_2,
    ('__init__', 21, ('_ommi_factory_20',)): _init_21_20,
    ('__init_frozen__', 1, ()): _init_frozen_1,
    ('__init_frozen__', 2, ()): _init_frozen_2,
    ('__init_frozen__', 3, ()): _init_frozen_3,
    ('__init_frozen__', 4, ()): _init_frozen_4,
    ('__init_frozen__', 5, ()): _init_frozen_5,
    ('__init_frozen__', 7, ()): _init_frozen_7,
    ('__init_frozen__', 8, ()): _init_frozen_8,
    ('__init_frozen__', 9, ('_ommi_factory_6',)): _init_frozen_9_6,
    ('__init_frozen__', 17, ()): _init_frozen_17,
}
