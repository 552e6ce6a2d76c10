# The original release's gpqa_fewshot_gen (LLaDA-8B-Instruct, LLaDA 1.5; not in pip OpenCompass): GPQA diamond,
# five worked questions then the question, answered as "The correct answer is (X)"; the options of each
# question shuffled with seed 0 (GPQAShuffledDataset). gpqa_diamond.csv is read from ./data/gpqa/ under
# $COMPASS_DATA_CACHE (OpenCompass downloads it when missing).
from opencompass.datasets import GPQAEvaluator
from opencompass.openicl.icl_inferencer import GenInferencer
from opencompass.openicl.icl_prompt_template import PromptTemplate
from opencompass.openicl.icl_retriever import ZeroRetriever

from llada_opencompass import GPQAShuffledDataset, gpqa_correct_answer_postprocess

gpqa_five_shots = (
    'Here are some example questions from experts. Answer the final question yourself, following the format of the previous questions exactly.\n'
    'Question: In a given population, 1 out of every 400 people has a cancer caused by a completely recessive allele, b. Assuming the population is in Hardy-Weinberg equilibrium, which of the following is the expected proportion of individuals who carry the b allele but are not expected to develop the cancer?\n'
    'Choices:\n'
    '(A) 1/400\n'
    '(B) 19/400\n'
    '(C) 20/400\n'
    '(D) 38/400\n'
    'The correct answer is (D)\n'
    '\n'
    'Question: A Fe pellet of 0.056 g is first dissolved in 10 mL of hydrobromic acid HBr (0.1 M). The resulting solution is then titrated by KMnO4 (0.02 M). How many equivalence points are there?\n'
    'choices:\n'
    '(A) Two points, 25 ml and 35 ml\n'
    '(B) One point, 25 mL\n'
    '(C) One point, 10 ml\n'
    '(D) Two points, 25 ml and 30 ml\n'
    'The correct answer is (A)\n'
    '\n'
    'Question: Consider a quantum mechanical system containing a particle of mass $m$ moving in an istropic three dimensional potential of the form $V(r) = 1/2 m \\omega^2 r^2$ corresponding to the acted force obeying Hooke’s law. Here, $\\omega$ is the angular frequency of oscillation and $r$ is the radial distance of the particle from the origin in spherical polar coordinate. What is the value of energy of the third excited state, and how many linearly independent eigenfunctions are possible for the same energy eigenvalue?\n'
    'Choices:\n'
    '(A) 11 \\pi^2 \\hbar^2 / (2m r^2), 3\n'
    '(B) (9/2) \\hbar \\omega , 10\n'
    '(C) 11 \\pi^2 \\hbar^2 / (2m r^2), 10\n'
    '(D) (9/2) \\hbar \\omega, 3\n'
    'The correct answer is (B)\n'
    '\n'
    'Question: Your overhear two chemists talking to each other as they leave a synthetic organic chemistry lab. One asks the other "So, how did it go?" The second chemist replies, "Not well - my compounds are on top of each other." What is the second chemist most likely referring to?\n'
    'Choices:\n'
    '(A) The compounds they are working with have similar polarities.\n'
    '(B) The compounds they are working with have similar boiling points.\n'
    '(C) The compounds they are working with are bonding to each other through non-covalent/van der Waals interactions.\n'
    '(D) The compounds they are working with have similar optical rotations.\n'
    'The correct answer is (A)\n'
    '\n'
    'Question: Mitochondria are semi-autonomous cellular organelles in charge of energy production. They encode for a part of their own translational machinery and respiratory complexes. Mitochondrial function is governed by over a thousand proteins imported from the cell, contributing to processes like the transport of proteins, ribosome biogenesis and translation regulation, respiratory oxidation, metabolism, and apoptotic signaling cascade. Mutations in the code for mitochondrial protein networks can cause numerous diseases in humans that are inherited through generations. Mutations of which of the mitochondrial proteins listed below are least likely to be genetically transmitted from a father to his children?\n'
    'Choices:\n'
    '(A) Translocase of inner mitochondrial membrane 17B\n'
    '(B) ATP binding cassette subfamily B member 8\n'
    '(C) NADH dehydrogenase 2\n'
    '(D) Tu translation elongation factor, mitochondrial\n'
    'The correct answer is (C)\n'
)

gpqa_reader_cfg = dict(input_columns=['question', 'explanation', 'A', 'B', 'C', 'D'], output_column='answer')

gpqa_infer_cfg = dict(
    prompt_template=dict(
        type=PromptTemplate,
        template=dict(round=[
            dict(role='HUMAN',
                 prompt='\n' + gpqa_five_shots + '\nQuestion:\n{question}\nChoices:\nA. {A}\nB. {B}\nC. {C}\nD. {D}\n'
                 "When you're ready to answer, please use the format 'The correct answer is (X)' where X is the "
                 "correct letter choice from 'ABCD'."),
        ]),
    ),
    retriever=dict(type=ZeroRetriever),
    inferencer=dict(type=GenInferencer),
)

gpqa_eval_cfg = dict(evaluator=dict(type=GPQAEvaluator), pred_postprocessor=dict(type=gpqa_correct_answer_postprocess))

gpqa_datasets = [
    dict(abbr='GPQA_diamond', type=GPQAShuffledDataset, path='./data/gpqa/', name='gpqa_diamond.csv',
         reader_cfg=gpqa_reader_cfg, infer_cfg=gpqa_infer_cfg, eval_cfg=gpqa_eval_cfg)
]
