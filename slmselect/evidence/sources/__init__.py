"""Source adapters: one module per folder of ``benchmarks_db/raw/``. The build reads them in this order.

Adding a source: write ``sources/<name>.py`` with ``FOLDER`` and ``read(folder) -> SourceData`` (see
``base.py``), put its raw file and a LICENSE/NOTICE in ``benchmarks_db/raw/<FOLDER>/``, add its tasks to
``raw/registry/tasks.csv`` and list the module here.
"""

from . import bfcl, curated, helm, llm_stats, lm_harmony, open_llm

ADAPTERS = (curated, lm_harmony, bfcl, open_llm, llm_stats, helm)
