"""recommend(): rank base models for a task under hard constraints, with evidence and uncertainty.

``core`` is the call (profile, predict, constrain, order, explain); ``constraints`` the hard constraints and
the feasible models; ``notes`` why the pick is what it is; ``results`` what it returns.
"""

from slmselect.recommender.constraints import COMMERCIAL, LICENSE_GROUPS, PERMISSIVE
from slmselect.recommender.core import recommend
from slmselect.recommender.results import Candidate, Evidence, Recommendation

__all__ = ["COMMERCIAL", "LICENSE_GROUPS", "PERMISSIVE", "Candidate", "Evidence", "Recommendation", "recommend"]
