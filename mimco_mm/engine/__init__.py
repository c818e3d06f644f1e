"""Training machinery shared by the three libraries (registered in MMEngine's root registries)."""
from .architecture_hook import RecordArchitectureHook
from .data_wait import DataWaitMonitorHook
from .hang_watchdog import HangWatchdogHook
from .knn_monitor import KNNMonitorHook
from .layer_decay import ViTLayerDecayConstructor
from .phase_timer import IterPhaseTimerHook
from .nonfinite_guard import NonFiniteCheckpointError, NonFiniteGuardHook, NonFiniteLossError
from .preemption import PREEMPTED_EXIT_CODE, PreemptionCheckpointHook, RunPreempted
from .provenance_hook import ProvenanceHook
from .resumable_iter_loop import ResumableIterBasedTrainLoop
from .resumable_loop import ResumableEpochBasedTrainLoop
from .resume_check import NotResumableError, ResumeCheckHook
from .schedule_check import ScheduleCheckHook

__all__ = ['KNNMonitorHook', 'ViTLayerDecayConstructor', 'NonFiniteGuardHook', 'NonFiniteLossError',
           'NonFiniteCheckpointError', 'PreemptionCheckpointHook', 'PREEMPTED_EXIT_CODE',
           'RunPreempted', 'ResumableEpochBasedTrainLoop', 'ResumableIterBasedTrainLoop',
           'RecordArchitectureHook', 'ProvenanceHook', 'IterPhaseTimerHook', 'DataWaitMonitorHook',
           'ScheduleCheckHook', 'ResumeCheckHook', 'NotResumableError', 'HangWatchdogHook']
