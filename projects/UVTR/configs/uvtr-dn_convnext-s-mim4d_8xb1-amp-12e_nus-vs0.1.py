# UVTR-DN on the vs0.1 camera volume (uvtr_convnext-s-mim4d_8xb1-amp-12e_nus-vs0.1.py with the denoising head and
# code weights of the vs0.075 recipe): not an official configuration; the row that separates the head (UVTR vs
# UVTR-DN) from the volume (vs0.1 vs vs0.075) when the two official rows are compared.
_base_ = ['./uvtr_convnext-s-mim4d_8xb1-amp-12e_nus-vs0.1.py']

model = dict(pts_bbox_head=dict(with_dn=True, code_weights=[2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2]))
