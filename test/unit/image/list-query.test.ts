import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Invalid } from '../../../src/common/errors.ts'
import { LIMIT_DEFAULTS } from '../../../src/common/limits.ts'
import { parseListQuery, parseSort, splitQuotedList } from '../../../src/image/list-query.ts'
import { RangeNotSatisfiable } from '../../../src/image/errors.ts'
import { parseRange } from '../../../src/image/range.ts'

const q = (text: string) => parseListQuery(new URLSearchParams(text))
const sort = (text: string) => parseSort(new URLSearchParams(text)).map((k) => `${k.column}:${k.direction}`)

describe('image list query', () => {
  it("has Glance's defaults", () => {
    const query = q('')
    assert.equal(query.limit, LIMIT_DEFAULTS.imageListDefaultPageSize)
    assert.equal(query.memberStatus, 'accepted')
    assert.equal(query.visibility, undefined)
    assert.equal(query.osHidden, false)
    assert.deepEqual(sort(''), ['created_at:desc', 'id:desc'])
  })

  it('caps the page size and refuses bad limits', () => {
    assert.equal(q('limit=5').limit, 5)
    assert.equal(q('limit=100000').limit, LIMIT_DEFAULTS.maxPageSize)
    assert.throws(() => q('limit=abc'), { message: 'limit param must be an integer' })
    assert.throws(() => q('limit=-1'), { message: 'limit param must be positive' })
  })

  it('sorts by the classic and the new syntax, appending created_at and id', () => {
    assert.deepEqual(sort('sort_key=name'), ['name:desc', 'created_at:desc', 'id:desc'])
    assert.deepEqual(sort('sort_key=name&sort_dir=asc'), ['name:asc', 'created_at:asc', 'id:asc'])
    assert.deepEqual(sort('sort_key=name&sort_key=size&sort_dir=asc'), [
      'name:asc',
      'size:asc',
      'created_at:asc',
      'id:asc',
    ])
    assert.deepEqual(sort('sort_key=name&sort_key=size&sort_dir=asc&sort_dir=desc'), [
      'name:asc',
      'size:desc',
      'created_at:desc',
      'id:desc',
    ])
    assert.deepEqual(sort('sort=size:desc,name'), ['size:desc', 'name:desc', 'created_at:desc', 'id:desc'])
    assert.deepEqual(sort('sort=id:asc'), ['id:asc', 'created_at:asc'])
  })

  it('refuses bad sort parameters', () => {
    assert.throws(() => sort('sort_key=owner'), /Invalid sort key: owner/)
    assert.throws(() => sort('sort_key=name&sort_dir=up'), { message: 'Invalid sort direction: up' })
    assert.throws(() => sort('sort=name&sort_key=size'), /cannot be combined/)
    assert.throws(() => sort('sort_key=a&sort_key=name&sort_dir=asc&sort_dir=asc&sort_dir=asc'), Invalid)
    assert.throws(
      () => sort('sort_key=name&sort_key=size&sort_dir=asc&sort_dir=desc&sort_dir=asc'),
      /does not match/,
    )
  })

  it('reads visibility, member status, os_hidden and protected', () => {
    assert.equal(q('visibility=all').visibility, 'all')
    assert.equal(q('member_status=all').memberStatus, 'all')
    assert.equal(q('os_hidden=True').osHidden, true)
    assert.deepEqual(q('protected=true').filters, [{ column: 'protected', op: 'eq', value: true }])
    assert.throws(() => q('visibility=everyone'), { message: 'Invalid visibility value: everyone' })
    assert.throws(() => q('member_status=maybe'), { message: 'Invalid status: maybe' })
    assert.throws(() => q('os_hidden=yes'), /Invalid value 'yes' for 'os_hidden' filter/)
    assert.throws(() => q('protected=1'), /Invalid value '1' for 'protected' filter/)
    assert.throws(() => q('changes-since=2020-01-01'), /no longer available/)
  })

  it('turns attribute names into column filters and other names into property filters', () => {
    const query = q(
      'name=in:a,"b,c"&status=active&size_min=10&size_max=20&owner=p1&os_distro=debian&tag=x&tag=y',
    )
    assert.deepEqual(query.filters, [
      { column: 'name', op: 'in', value: ['a', 'b,c'] },
      { column: 'status', op: 'eq', value: 'active' },
      { column: 'size', op: 'gte', value: 10 },
      { column: 'size', op: 'lte', value: 20 },
      { column: 'owner', op: 'eq', value: 'p1' },
    ])
    assert.deepEqual(query.properties, [['os_distro', 'debian']])
    assert.deepEqual(query.tags, ['x', 'y'])
  })

  it("reads Glance's operators on names and times", () => {
    assert.deepEqual(q('name=eq:a:b').filters, [{ column: 'name', op: 'eq', value: 'a:b' }])
    assert.throws(() => q('name=foo:bar'), { message: "Unable to filter by unknown operator 'foo'." })
    assert.deepEqual(q('created_at=gte:2024-01-02T03:04:05Z').filters, [
      { column: 'created_at', op: 'gte', value: '2024-01-02T03:04:05.000Z' },
    ])
    assert.deepEqual(q('updated_at=2024-01-02T03:04:05Z').filters, [
      { column: 'updated_at', op: 'eq', value: '2024-01-02T03:04:05.000Z' },
    ])
    assert.throws(() => q('created_at=gt:yesterday'), /Use ISO 8601/)
    assert.throws(() => q('size_min=big'), {
      message: 'Unable to filter on a range with a non-numeric value.',
    })
  })

  it('splits quoted lists', () => {
    assert.deepEqual(splitQuotedList('a,"b,c",d'), ['a', 'b,c', 'd'])
    assert.throws(() => splitQuotedList('"a'), Invalid)
  })
})

describe('image download Range', () => {
  it('reads one range: start-end, start-, and a suffix', () => {
    assert.equal(parseRange(undefined, 10), undefined)
    assert.deepEqual(parseRange('bytes=0-4', 10), { start: 0, end: 4 })
    assert.deepEqual(parseRange('bytes=5-', 10), { start: 5, end: 9 })
    assert.deepEqual(parseRange('bytes=5-100', 10), { start: 5, end: 9 })
    assert.deepEqual(parseRange('bytes=-3', 10), { start: 7, end: 9 })
    assert.deepEqual(parseRange('bytes=-30', 10), { start: 0, end: 9 })
  })

  it('refuses several ranges (400) and unsatisfiable ones (416)', () => {
    assert.throws(() => parseRange('bytes=0-1,3-4', 10), Invalid)
    for (const bad of ['bytes=10-', 'bytes=4-2', 'items=0-1', 'bytes=-', 'bytes=-0']) {
      assert.throws(() => parseRange(bad, 10), RangeNotSatisfiable, bad)
    }
  })
})
