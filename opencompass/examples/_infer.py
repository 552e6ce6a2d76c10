# The original release's inference settings, shared by every example: each dataset is split into 8 parts and
# up to 64 tasks run at once (one GPU each, run_cfg), a failed task retried up to 5 times.
from opencompass.partitioners import NumWorkerPartitioner
from opencompass.runners import LocalRunner
from opencompass.tasks import OpenICLInferTask

infer = dict(
    partitioner=dict(type=NumWorkerPartitioner, num_worker=8, num_split=None, min_task_size=16),
    runner=dict(type=LocalRunner, max_num_workers=64, task=dict(type=OpenICLInferTask), retry=5),
)
