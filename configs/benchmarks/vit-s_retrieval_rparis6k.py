# Revisited Paris 6k: the protocol of vit-s_retrieval_roxford5k.py on data/rparis6k.
_base_ = './vit-s_retrieval_roxford5k.py'

retrieval = dict(data_root='data/rparis6k', gnd_file='gnd_rparis6k.pkl')
