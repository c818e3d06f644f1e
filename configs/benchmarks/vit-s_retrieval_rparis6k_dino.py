# Revisited Paris 6k retrieval in DINO's protocol: eval_image_retrieval.py as DINO's README runs
# it for Paris (--imsize 512 --multiscale 1), which is also how iBOT's run.sh runs it: the
# handling of vit-s_retrieval_roxford5k_dino.py at a 512 px box, features at scales 1, 1/sqrt 2
# and 1/2 of it averaged.
_base_ = './vit-s_retrieval_roxford5k_dino.py'

retrieval = dict(data_root='data/rparis6k', gnd_file='gnd_rparis6k.pkl', image_size=512,
                 scales=(1, 2 ** -0.5, 0.5))
