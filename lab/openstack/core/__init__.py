"""What every service of the OpenStack double shares: errors in each service's shape, the
Request, microversions, paging and filters, ids and timestamps, the dispatcher, the ticker."""
