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

"""Storage administration on the storage management node.

What ``cinder-auxo-storage`` does, as a library: check a request
(``request``), find LUNs (``iscsi``, ``luns``), make a storage on one
(``block``: a volume group; ``filesys``: a mounted filesystem) or on a
directory, write its backend section into
cinder.conf (``conffile``), remember what was made (``state``) so that
``manager.remove`` undoes exactly that, and report on it (``status``).
Every command runs through an injected ``execute`` (argument lists only).
"""
