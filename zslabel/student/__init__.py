"""The student: a supervised model fitted on the accepted rows of a labeling run.

``train`` fits it on the exported train split (a logistic regression on frozen sentence
embeddings by default, or an encoder fine-tuned with a linear head or on pairs of rows),
self-trains it on the pool, evaluates every round and saves it; ``StudentModel.load`` and
``predict_file`` apply it to new data.
"""

from zslabel.student.contrastive import ContrastiveTuner
from zslabel.student.finetune import FineTuner
from zslabel.student.head import LogisticHead
from zslabel.student.model import StudentModel
from zslabel.student.predict import predict_file
from zslabel.student.selftrain import SelfTrainer
from zslabel.student.train import GoldSet, TrainResult, job_student_spec, train

__all__ = [
    "ContrastiveTuner",
    "FineTuner",
    "GoldSet",
    "LogisticHead",
    "SelfTrainer",
    "StudentModel",
    "TrainResult",
    "job_student_spec",
    "predict_file",
    "train",
]
