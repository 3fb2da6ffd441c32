"""The registered datasets: checksums of the copies this project was built on, official URLs and terms.

Checksums of files are sha256 of the bytes; checksums of folders are ``sources.tree_digest``. Where the official
site publishes only an md5 of its archive, the remote carries that md5 and the extracted files are then checked
against the sha256 below, so a changed upstream file is caught either way.
"""

from __future__ import annotations

from facekit.data.sources import Dataset, Item, Remote, register

LFW_TERMS = ("LFW is published by the University of Massachusetts, Amherst for research use. The images are "
             "photographs of public figures collected from the web; no licence to the images is granted. "
             "Cite Huang et al. 2007 (and Huang et al. 2012 for deep funneling).")

LFW = register(Dataset(
    name="lfw",
    title="Labeled Faces in the Wild (deep-funneled) with View 2 pairs and gender lists",
    homepage="http://vis-www.cs.umass.edu/lfw/",
    terms=LFW_TERMS,
    citation="huang2007lfw",
    items=(
        Item("lfw-deepfunneled", "dir",
             "8c04ee61355d6a6734594b8fbc9a471b4699aa684db3c6c2bc535d5d7f9f0958", count=13233),
        Item("pairs.txt", sha256="ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592",
             annotation=True),
        Item("lfw-names.txt", sha256="403cd39411ee297f99f69241959bd8f0496b44377711913a76ccdd8562874164",
             annotation=True),
        Item("gender/male_names.txt",
             sha256="6ed9cd7a08a50aba4e9ea0d5edba25ae13871896ee2f3dc205b39fcd2a6bc728", annotation=True),
        Item("gender/female_names.txt",
             sha256="c57d2c7c535f9639660088cbc791655ef8748c26ca55fc866efd3796877ef39d", annotation=True),
    ),
    remotes=(
        Remote("http://vis-www.cs.umass.edu/lfw/lfw-deepfunneled.tgz", ("lfw-deepfunneled",),
               checksum="md5:68331da3eb755a505a502b5aacb3c201", archive=True),
        Remote("http://vis-www.cs.umass.edu/lfw/pairs.txt", ("pairs.txt",),
               checksum="md5:9f1ba174e4e1c508ff7cdf10ac338a7d"),
        Remote("http://vis-www.cs.umass.edu/lfw/lfw-names.txt", ("lfw-names.txt",),
               checksum="md5:a6d0a479bd074669f656265a6e693f6d"),
        Remote("https://github.com/Lukeli0425/Gender-Classification/tree/efdba063f8892f255e92412e96b9015a082a5faa",
               ("gender/male_names.txt", "gender/female_names.txt"), builder="lfw_gender"),
    ),
    notes=("The gender lists (male_names.txt / female_names.txt, image level) have no official download "
           "address; they are fetched from the pinned commit of the repository the mirror's copy came from."),
    expected={"people": 5749, "images": 13233, "pairs": 6000, "folds": 10},
))

CELEBA_SUBSET = register(Dataset(
    name="celeba_subset",
    title="CelebA subset: 319 in-the-wild images of 40 identities, official identity file, attributes 1-20,000",
    homepage="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
    terms=("CelebA is available for non-commercial research and educational purposes only; the images are not "
           "owned by CUHK. Cite Liu et al. 2015."),
    citation="liu2015celeba",
    items=(
        Item("img_celeba", "dir", "646805ae99169aca42662a61c36ff0eda2c578fa72129cf039301b0f6cd26642", count=319),
        Item("identity_CelebA.txt", sha256="c6143857c3e2630ac2da9f782e9c1232e5e59be993a9d44e8a7916c78a6158c0",
             annotation=True),
        Item("list_attr_celeba_000001-020000.txt",
             sha256="5e2985f6482e2c379c4f58f021c80532fa78c9a9a5bd86aab29a5e4e0a8de7a4", annotation=True),
        Item("subset_identity.txt", sha256="bd603bcc8dccdd42f375dd4c694f55af8e343f5a352051a71e1da23e2a205c20",
             annotation=True),
    ),
    remotes=(
        Remote("https://github.com/matush97/faceRecognition/tree/e7ba6c0951ace22b43ef32fc903a7dae1babe55d",
               ("img_celeba", "identity_CelebA.txt", "list_attr_celeba_000001-020000.txt", "subset_identity.txt"),
               builder="celeba_subset"),
    ),
    notes=("A selection made for this project's mirror, rebuilt without it from pinned commits of the public "
           "repositories its files came from (images: matush97/faceRecognition; identities: "
           "dg21-stack/FaceIdentityRecognition, header line removed; attributes: "
           "zgjsxx/face-property-detection-pytorch, first 20,002 lines) by the selection rule in "
           "`facekit.data.selections`. The full CelebA (dataset `celeba`, full profile) is downloaded by hand from "
           "the homepage (Google Drive)."),
    expected={"images": 319, "identities": 40, "male_identities": 20, "female_identities": 20},
))

W300_SUBSET = register(Dataset(
    name="300w_subset",
    mirror_name="300w_helen_afw_subset",
    title="300-W (iBUG 68 points): HELEN test + AFW subset, 134 images, 180 annotated faces",
    homepage="https://ibug.doc.ic.ac.uk/resources/300-W/",
    terms=("300-W annotations are distributed by iBUG (Imperial College London) for non-commercial research. "
           "HELEN and AFW images are Flickr photographs; no rights to them are granted. Cite Sagonas et al. 2013, "
           "Le et al. 2012 (HELEN) and Zhu & Ramanan 2012 (AFW)."),
    citation="sagonas2013300w",
    items=(
        Item("index.csv", sha256="76240a3ad567651b80b47b45369c7d458157ea506b00258e49dc29d6eeae21b4",
             annotation=True),
        Item("helen_testset", "dir", "4c6bdf68fd71d054b3e7747670e7c47383b12e2f438b5d9c0007e1fdd2d0cd23",
             count=140),
        Item("afw", "dir", "47e19e5491fc2de3fcd61ff8fc3a48d4f30a02e651f550947f0d40a93a377e6c", count=174),
    ),
    remotes=(
        Remote("https://github.com/Spinkoo/Face-alignement/tree/e08a16aa91ad771df34e75f70bc5aaf20238ff6a",
               ("index.csv", "helen_testset", "afw"), builder="300w_subset"),
    ),
    notes=("A size-bounded selection of the 300-W HELEN test and AFW components (the .pts files' checksums are "
           "inside the folder digests), rebuilt without the mirror from a pinned commit of Spinkoo/Face-alignement "
           "by the selection rule in `facekit.data.selections`. The complete sets are downloaded from the iBUG "
           "page after registration."),
    expected={"images": 134, "faces": 180, "helen_images": 70, "afw_images": 64, "afw_faces": 110},
))

WIDER_GT = register(Dataset(
    name="widerface_val_gt",
    title="WIDER FACE validation ground truth (.mat boxes; no images)",
    homepage="http://shuoyang1213.me/WIDERFACE/",
    terms="WIDER FACE is for research use; its images come from the WIDER dataset. Cite Yang et al. 2016.",
    citation="yang2016wider",
    items=tuple(Item(f, sha256=s, annotation=True) for f, s in (
        ("wider_face_val.mat", "1dfe6a9853950f9dde256b5e8bb75d8f272e6bc02a15ae1968f5a9b883f458cb"),
        ("wider_easy_val.mat", "c2fb672d16f75653eb89fb8bc437a7d060896a71cd7a65c1a5a3e4479024099c"),
        ("wider_medium_val.mat", "4a031970bc132cef5cfacd05068aabcf4fe15d4a31a1e9f4f00eb134fdf449c1"),
        ("wider_hard_val.mat", "bb1af19dc5bc4dd9517dd8ae8096326c68175f2c3411763bdd4f23fa98638b78"),
    )),
    remotes=(
        Remote("http://shuoyang1213.me/WIDERFACE/support/eval_script/eval_tools.zip",
               ("wider_face_val.mat", "wider_easy_val.mat", "wider_medium_val.mat", "wider_hard_val.mat"),
               archive=True, archive_root="eval_tools/ground_truth/"),
    ),
    expected={"events": 61, "images": 3226, "boxes": 39708},
))

FACENET_TEST = register(Dataset(
    name="facenet_test_images",
    mirror_name="facenet_pytorch_test_images",
    title="facenet-pytorch example photos: 4 portraits, 5 aligned crops, one group photo",
    homepage="https://github.com/timesler/facenet-pytorch",
    terms="Shipped in the MIT-licensed facenet-pytorch repository; celebrity photos from the web, no photo licence.",
    items=(
        Item("test_images", "dir", "530a07f7ba10f8c8726f0916644a414d33114d12ff10c44449cf3d01d91fde46", count=4),
        Item("test_images_aligned", "dir", "e029699f64eb8092913229987b2ebc4d9d6ce5ed8b1be82fcc8a9e21ff0396a8",
             count=5),
        Item("multiface.jpg", sha256="433a04ac20456b02284f66f8336a4267be86a99ed3635141a477e192312b4f2f"),
    ),
    notes="The upstream test_images/bradley_cooper/1.jpg is absent from the mirror snapshot (>= 4 MiB).",
    expected={"portraits": 4, "aligned_crops": 5},
))

# ---- full profile only: obtained by the user on a machine with internet (no checksums pinned yet) -------------
CELEBA_FULL = register(Dataset(
    name="celeba",
    title="CelebA, full: 202,599 images, identities, attributes, landmarks, boxes",
    homepage="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
    terms=CELEBA_SUBSET.terms,
    citation="liu2015celeba",
    profiles=("full",),
    items=(
        Item("img_celeba", "dir", count=202599),
        Item("identity_CelebA.txt", sha256=CELEBA_SUBSET.items[1].sha256, annotation=True),
        Item("list_attr_celeba.txt", annotation=True),
        Item("list_landmarks_celeba.txt", annotation=True),
        Item("list_bbox_celeba.txt", annotation=True),
    ),
    notes="Downloaded by hand from the homepage (Google Drive); place the files under FACEKIT_DATA/celeba/.",
))

PINS = register(Dataset(
    name="pins105",
    title="Pins Face Recognition (Kaggle), 105 celebrities, folders pins_<Name>/",
    homepage="https://www.kaggle.com/datasets/hereisburak/pins-face-recognition",
    terms="Kaggle dataset; check its licence page before use.",
    profiles=("full",),
    items=(Item("105_classes_pins_dataset", "dir"),),
    notes="Downloaded by hand from Kaggle (needs an account); unpack under FACEKIT_DATA/pins105/.",
))

CASIA = register(Dataset(
    name="casia_webface",
    title="CASIA-WebFace (10,575 identities, ~494k images), one folder per identity",
    homepage="https://paperswithcode.com/dataset/casia-webface",
    terms="Research use only; the original distribution by CASIA has been withdrawn, copies circulate.",
    profiles=("full",),
    items=(Item("CASIA-WebFace", "dir"),),
    notes="Placed by hand under FACEKIT_DATA/casia_webface/CASIA-WebFace/<identity>/*.jpg; full-profile training "
          "set of the metric-learning chapter.",
))
