"""files.read_json: a JSON file read, or one error line saying why not."""

import pytest

from textclf.errors import InputError
from textclf.files import read_json


def test_a_json_file_that_cannot_be_read_or_parsed_is_one_error(tmp_path):
    (tmp_path / "good.json").write_text('{"a": [1, 2]}')
    assert read_json(tmp_path / "good.json") == {"a": [1, 2]}
    (tmp_path / "bad.json").write_text('{"a": ')
    with pytest.raises(InputError, match="bad.json: not valid JSON"):
        read_json(tmp_path / "bad.json")
    with pytest.raises(InputError, match="missing.json: cannot be read"):
        read_json(tmp_path / "missing.json")
    with pytest.raises(InputError, match="cannot be read"):
        read_json(tmp_path)  # a folder
