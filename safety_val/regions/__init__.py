r"""Critical regions: the failure modes of a reliability result, as rules and pictures.

:func:`analyze` takes a :class:`~safety_val.reliability.result.FailureProbabilityResult`
(and, better, an importance sample drawn around its design points) and answers the
questions an engineer asks after "what is pf?":

- **Which separate ways of failing are there?** Failure samples are clustered by their
  *direction* in standard normal space; each cluster is a failure mode with its own design
  point, reliability index :math:`\beta` and share of pf (with an interval).
- **How do I recognise them?** A shallow decision tree per mode, in physical units, read
  out as rules such as ``ego_speed > 27.1 m/s and cut_in_gap <= 11.5 m and lighting in
  {night, twilight}``, with precision and recall on held-out samples.
- **Where are the failures?** :meth:`CriticalRegions.plot_slices` projects the points
  onto the most important parameter pairs and draws the failure region the data support
  there (an empirical, cross-validated boundary, drawn only near observed points).
- **Which concrete scenarios should I look at?** :meth:`CriticalRegions.critical_scenarios`.
"""

from safety_val.regions.analysis import analyze
from safety_val.regions.result import CriticalRegions, ImportanceSampleLike

__all__ = ["CriticalRegions", "ImportanceSampleLike", "analyze"]
