import type { Insertable, Selectable, Updateable } from 'kysely'

/**
 * Glance's tables. Image ids are dashed uuids (Glance shows and accepts them
 * so); `owner` and `member_id` are Keystone project ids. Deleting an image
 * deletes its row and, by cascade, its properties, tags and members: unlike
 * Glance, no soft-deleted rows are kept, only the deleted id
 * (`image_deleted_ids`), so that no new image ever takes it.
 */
export interface ImagesTable {
  id: string
  name: string | null
  /** queued, saving, active, killed, deactivated, ... (see image/model.ts). */
  status: string
  /** public, private, shared or community. */
  visibility: string
  owner: string | null
  disk_format: string | null
  container_format: string | null
  /** Bytes of image data; null until an upload completes. */
  size: number | null
  /** Bytes of the disk the image describes, when its format says so. */
  virtual_size: number | null
  /** md5 hex digest of the data. */
  checksum: string | null
  os_hash_algo: string | null
  os_hash_value: string | null
  /** Disk the image needs, in GiB. */
  min_disk: number
  /** RAM the image needs, in MiB. */
  min_ram: number
  protected: boolean
  os_hidden: boolean
  created_at: string
  updated_at: string | null
}

/** Extra properties: any string key -> string value, shown as top-level image fields. */
export interface ImagePropertiesTable {
  image_id: string
  name: string
  value: string
}

export interface ImageTagsTable {
  image_id: string
  value: string
  created_at: string
}

/** Projects an image is shared with, and whether each accepted. */
export interface ImageMembersTable {
  image_id: string
  member_id: string
  /** pending, accepted or rejected. */
  status: string
  created_at: string
  updated_at: string | null
}

/** The tables of this area, merged into `Schema`. */
/** A metadata definitions namespace (`/v2/metadefs/namespaces`), keyed by its name as in the API. */
export interface MetadefNamespacesTable {
  namespace: string
  display_name: string | null
  description: string | null
  visibility: string
  protected: boolean
  owner: string | null
  created_at: string
  updated_at: string | null
}

export interface MetadefResourceTypesTable {
  name: string
  /** Seeded types (OS::Glance::Image, ...) cannot be deleted. */
  protected: boolean
  created_at: string
  updated_at: string | null
}

export interface MetadefResourceTypeAssociationsTable {
  namespace: string
  resource_type: string
  prefix: string | null
  properties_target: string | null
  created_at: string
  updated_at: string | null
}

/** A namespace's objects, properties and tags: `kind` says which, `doc` is the definition (JSON). */
export interface MetadefItemsTable {
  namespace: string
  kind: string
  name: string
  doc: string
  created_at: string
  updated_at: string | null
}

/** Ids of deleted images: never given to a new image (OSSN-0075; Glance keeps soft-deleted rows). */
export interface ImageDeletedIdsTable {
  id: string
  deleted_at: string
}

export interface ImageTables {
  images: ImagesTable
  image_deleted_ids: ImageDeletedIdsTable
  image_properties: ImagePropertiesTable
  image_tags: ImageTagsTable
  image_members: ImageMembersTable
  metadef_namespaces: MetadefNamespacesTable
  metadef_resource_types: MetadefResourceTypesTable
  metadef_resource_type_associations: MetadefResourceTypeAssociationsTable
  metadef_items: MetadefItemsTable
}

export type ImageRow = Selectable<ImagesTable>
export type NewImageRow = Insertable<ImagesTable>
export type ImageUpdate = Updateable<ImagesTable>
export type ImageMemberRow = Selectable<ImageMembersTable>
