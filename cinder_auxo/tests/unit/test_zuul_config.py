#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

""".zuul.yaml: what can be checked without a Zuul.

zuul-client validates a configuration only against a running Zuul, so this
checks the names instead: every job a pipeline runs, and every parent, is
defined here or is a job of zuul-jobs, openstack-zuul-jobs, devstack or
tempest; every playbook exists; every tox_envlist names an env of tox.ini;
every files/irrelevant-files entry is a regular expression.
"""

import configparser
import os
import re

import yaml

from cinder_auxo.tests.unit import base

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__),
                                    '..', '..', '..'))

# Standard jobs this repository runs or inherits from, by the repository
# that defines them.
KNOWN_JOBS = frozenset([
    # opendev/base-jobs, zuul/zuul-jobs
    'base', 'tox', 'tox-docs', 'tox-pep8', 'tox-py311', 'tox-functional',
    # openstack/openstack-zuul-jobs
    'openstack-tox', 'openstack-tox-py311', 'openstack-tox-py312',
    'openstack-tox-pep8', 'openstack-tox-docs', 'openstack-tox-functional',
    'openstack-tox-functional-py311', 'build-openstack-releasenotes',
    # openstack/devstack, openstack/tempest
    'devstack', 'devstack-minimal', 'devstack-tempest', 'tempest-full-py3',
])

PIPELINES = ('check', 'gate')

# Envs tox creates from their name alone (factors), without a section.
IMPLICIT_ENVS = re.compile(r'^py3\d*$')


def load(path):
    with open(os.path.join(REPO, path)) as f:
        return f.read()


class ZuulConfigTestCase(base.TestCase):

    def setUp(self):
        super(ZuulConfigTestCase, self).setUp()
        config = yaml.safe_load(load('.zuul.yaml'))
        self.projects = [i['project'] for i in config if 'project' in i]
        self.jobs = {i['job']['name']: i['job'] for i in config
                     if 'job' in i}
        unknown = [list(i) for i in config
                   if not {'project', 'job'} & set(i)]
        self.assertEqual([], unknown)

    def pipeline_jobs(self, pipeline):
        names = []
        for project in self.projects:
            for job in project.get(pipeline, {}).get('jobs', []):
                names.append(job if isinstance(job, str) else
                             next(iter(job)))
        return names

    def test_one_project_stanza_with_check_and_gate(self):
        self.assertEqual(1, len(self.projects))
        for pipeline in PIPELINES:
            self.assertTrue(self.pipeline_jobs(pipeline), pipeline)

    def test_pipeline_jobs_are_defined(self):
        for pipeline in PIPELINES:
            for name in self.pipeline_jobs(pipeline):
                self.assertTrue(name in self.jobs or name in KNOWN_JOBS,
                                '%s: job %s is not defined' %
                                (pipeline, name))

    def test_gate_runs_what_check_runs(self):
        self.assertEqual(sorted(self.pipeline_jobs('check')),
                         sorted(self.pipeline_jobs('gate')))

    def test_every_test_stage_has_a_job(self):
        runs = set(self.pipeline_jobs('check'))
        envs = set()
        for name in runs:
            job = self.jobs.get(name, {})
            envs.add(job.get('vars', {}).get('tox_envlist'))
        envs.update({'openstack-tox-pep8': 'pep8',
                     'openstack-tox-docs': 'docs',
                     'build-openstack-releasenotes': 'releasenotes'}.get(n)
                    for n in runs)
        for env in ('py3', 'pep8', 'functional', 'docs', 'releasenotes',
                    'bashate'):
            self.assertIn(env, envs)
        self.assertIn('cinder-auxo-stack-e2e', runs)

    def test_parents_are_defined(self):
        for name, job in self.jobs.items():
            parent = job.get('parent')
            if parent is None:
                continue
            self.assertTrue(parent in self.jobs or parent in KNOWN_JOBS,
                            '%s: parent %s is not defined' % (name, parent))
            self.assertNotEqual(name, parent)

    def test_no_parent_cycle(self):
        for name in self.jobs:
            seen = []
            while name in self.jobs:
                self.assertNotIn(name, seen)
                seen.append(name)
                name = self.jobs[name].get('parent')

    def test_playbooks_exist(self):
        for name, job in self.jobs.items():
            for key in ('pre-run', 'run', 'post-run'):
                books = job.get(key, [])
                for book in [books] if isinstance(books, str) else books:
                    self.assertTrue(
                        os.path.isfile(os.path.join(REPO, book)),
                        '%s: %s %s does not exist' % (name, key, book))
                    plays = yaml.safe_load(load(book))
                    self.assertTrue(all('hosts' in p for p in plays), book)

    def test_tox_envs_exist(self):
        tox = configparser.ConfigParser(interpolation=None)
        tox.read(os.path.join(REPO, 'tox.ini'))
        envs = {s.split(':', 1)[1] for s in tox.sections()
                if s.startswith('testenv:')}
        for name, job in self.jobs.items():
            envlist = job.get('vars', {}).get('tox_envlist')
            if not envlist or envlist == 'all':
                # 'all' is tempest's tox env, not this repository's.
                continue
            for env in envlist.split(','):
                self.assertTrue(env in envs or IMPLICIT_ENVS.match(env),
                                '%s: no tox env %s' % (name, env))

    def test_file_matchers_are_regular_expressions(self):
        for name, job in self.jobs.items():
            for key in ('files', 'irrelevant-files'):
                for pattern in job.get(key, []):
                    re.compile(pattern)

    def test_bindep_installs_qemu_img_for_the_tests(self):
        bindep = load('bindep.txt')
        self.assertRegex(bindep, r'(?m)^qemu-utils \[.*platform:dpkg.*test')
