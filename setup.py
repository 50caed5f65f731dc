"""Install mim3d (package ``mim3d_plugin``). Use ``bash tools/install.sh`` for the full stack."""
import os.path as osp

from setuptools import find_packages, setup


def read_requirements(fname):
    path = osp.join(osp.dirname(__file__), 'requirements', fname)
    with open(path) as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.startswith('#')]


def get_version():
    scope = {}
    with open(osp.join(osp.dirname(__file__), 'mim3d_plugin', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mim3d',
    version=get_version(),
    description='3D-aware masked image modeling (GeoMIM, MIM4D, Mask3D) for camera BEV detectors, '
    'as an OpenMMLab 2.x plugin',
    packages=find_packages(include=['mim3d_plugin', 'mim3d_plugin.*']),
    python_requires='>=3.9',
    install_requires=read_requirements('runtime.txt'),
    extras_require=dict(tests=read_requirements('tests.txt'), mim=read_requirements('mminstall.txt')),
    license='Apache-2.0',
    zip_safe=False)
