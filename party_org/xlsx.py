"""Excel output that keeps typed text as text.

openpyxl stores any string starting with "=" as a formula; names and notes are typed by users and
the files are opened by other people, so such strings are written as plain text cells.
"""

from openpyxl.cell import WriteOnlyCell


def safe_row(sheet, values):
    """The row for `sheet.append`: formula-looking strings become text cells."""
    row = []
    for value in values:
        if isinstance(value, str) and value.startswith("="):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            row.append(cell)
        else:
            row.append(value)
    return row
