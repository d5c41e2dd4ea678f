{
  "targets": [
    {
      "target_name": "samepage_native",
      "sources": [
        "native/addon.c",
        "native/content_sharing.c",
        "native/pool.c",
        "native/tile_reader.c",
        "native/region_files.c",
        "native/sort.c",
        "native/hash.c",
        "native/ksm_model.c",
        "native/smaps_table.c"
      ],
      "include_dirs": ["node_modules/xxhash-addon/xxHash"],
      "cflags": ["-O3", "-Wall", "-Wextra", "-Wno-unused-parameter", "-ffp-contract=off"],
      "libraries": ["-lpthread"],
      "conditions": [
        ["target_arch=='x64'", {
          "sources": ["node_modules/xxhash-addon/xxHash/xxh_x86dispatch.c"],
          "defines": ["SAMEPAGE_XXH_DISPATCH"]
        }]
      ]
    }
  ]
}
