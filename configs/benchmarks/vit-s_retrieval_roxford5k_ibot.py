# Revisited Oxford 5k retrieval in iBOT's protocol: DINO's eval_image_retrieval.py as iBOT's
# run.sh runs it for both sets (512 px box, multi-scale): the handling of
# vit-s_retrieval_roxford5k_dino.py, features at scales 1, 1/sqrt 2 and 1/2 averaged.
_base_ = './vit-s_retrieval_roxford5k_dino.py'

retrieval = dict(image_size=512, scales=(1, 2 ** -0.5, 0.5))
