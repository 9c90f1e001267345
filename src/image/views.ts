import type { Image } from './model.ts'
import type { ImageMember } from './repository.ts'

/**
 * Images and members as Glance's response serializers write them: extra
 * properties first as top-level string fields, then the base attributes in
 * Glance's order, then tags and the relative `self`/`file`/`schema` links.
 */

/** Glance's timeutils.isotime: seconds precision, `Z`. */
export function isoTime(stored: string): string {
  return `${stored.slice(0, 19)}Z`
}

export function imageHref(id: string, sub?: string): string {
  return sub ? `/v2/images/${id}/${sub}` : `/v2/images/${id}`
}

export function imageView(image: Image): Record<string, unknown> {
  return {
    ...image.properties,
    name: image.name,
    disk_format: image.disk_format,
    container_format: image.container_format,
    visibility: image.visibility,
    size: image.size,
    virtual_size: image.virtual_size,
    status: image.status,
    checksum: image.checksum,
    protected: image.protected,
    min_ram: image.min_ram,
    min_disk: image.min_disk,
    owner: image.owner,
    os_hidden: image.os_hidden,
    os_hash_algo: image.os_hash_algo,
    os_hash_value: image.os_hash_value,
    id: image.id,
    created_at: isoTime(image.created_at),
    updated_at: isoTime(image.updated_at),
    tags: [...image.tags],
    self: imageHref(image.id),
    file: imageHref(image.id, 'file'),
    schema: '/v2/schemas/image',
  }
}

/**
 * GET /v2/images: `first` is the request without its marker, `next` the
 * same with the last image as marker (only when more images follow).
 */
export function imageListView(images: readonly Image[], params: URLSearchParams, hasMore: boolean) {
  const query = new URLSearchParams(params)
  query.delete('marker')
  const first = query.size > 0 ? `/v2/images?${query}` : '/v2/images'
  const body: Record<string, unknown> = { images: images.map(imageView), first, schema: '/v2/schemas/images' }
  const last = images.at(-1)
  if (hasMore && last) {
    query.set('marker', last.id)
    body.next = `/v2/images?${query}`
  }
  return body
}

export function memberView(member: ImageMember): Record<string, unknown> {
  return {
    member_id: member.member_id,
    image_id: member.image_id,
    status: member.status,
    created_at: isoTime(member.created_at),
    updated_at: isoTime(member.updated_at),
    schema: '/v2/schemas/member',
  }
}

export function memberListView(members: readonly ImageMember[]) {
  return { members: members.map(memberView), schema: '/v2/schemas/members' }
}
