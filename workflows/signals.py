"""Every saved or deleted action type, connector or queue bumps the CATALOG epoch (now, and
again after commit), so that each process's copy of the catalogue (workflows.catalog) is
re-read on its next request; see governance.epochs.bump_when_changed.
"""

from governance import epochs
from workflows import catalog
from workflows.models import ActionType, Connector, Queue

epochs.bump_when_changed(catalog.EPOCH, ActionType, Connector, Queue)
