# Reads a metadata service (argv[1]) or a config drive directory (argv[2]) the way
# cloud-init's OpenStack and EC2 datasources do, with cloud-init's own helpers
# (Debian's cloud-init package, unpacked, on PYTHONPATH), and prints what they got.
import json
import sys

from cloudinit.sources.helpers import openstack
from cloudinit.sources.helpers import ec2 as ec2_utils

out = {}
url = sys.argv[1]
if url != '-':
    # MetadataReader's own EC2 read goes to 169.254.169.254 whatever the URL: stub it out.
    openstack.MetadataReader._read_ec2_metadata = lambda self: {}
    reader = openstack.MetadataReader(url, timeout=5, retries=0)
    found = reader.read_v2()
    out['openstack'] = {
        'version': found['version'],
        'metadata': found['metadata'],
        'userdata': found['userdata'].decode() if isinstance(found['userdata'], bytes) else found['userdata'],
        'networkdata': found['networkdata'],
        'vendordata': found['vendordata'],
    }
    out['ec2'] = {
        'metadata': ec2_utils.get_instance_metadata('2009-04-04', url, timeout=5, retries=0),
        'userdata': ec2_utils.get_instance_userdata('2009-04-04', url, timeout=5, retries=0).decode(),
    }
if len(sys.argv) > 2:
    reader = openstack.ConfigDriveReader(sys.argv[2])
    found = reader.read_v2()
    out['configdrive'] = {
        'version': found['version'],
        'metadata': found['metadata'],
        'userdata': found['userdata'].decode() if isinstance(found['userdata'], bytes) else found['userdata'],
        'networkdata': found['networkdata'],
        'ec2-metadata': found['ec2-metadata'],
    }
print(json.dumps(out, default=str))
