import subprocess
import sys
from pathlib import Path

import tousu

CORE = Path(tousu.__file__).parent


def test_the_core_imports_no_web_framework():
    modules = sorted(p.stem for p in CORE.glob("*.py") if p.stem not in ("__main__",))
    code = (
        "import sys\n"
        + "".join(f"import tousu.{m}\n" for m in modules if m != "__init__")
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'ninja', 'tousu_web'))\n"
        + "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_classifying_does_not_import_scikit_learn():
    code = (
        "import sys\nfrom tousu.triage import classify_many\n"
        "classify_many(['刷卡三天没到账'])\n"
        "print('sklearn' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
