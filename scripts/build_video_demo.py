"""Build assets/video/: 30 real short clips from Debian packages, re-encoded small, with captions and licences.

Usage: python scripts/build_video_demo.py [--out assets/video]   (needs `apt-get download`, run `apt-get update` first)

Every clip is cut to its first MAX_SECONDS, scaled so its longest side is at most SIDE pixels and
re-encoded as H.264 (+ AAC mono when it has a soundtrack) in an .mp4. Captions are written by hand
from watching each clip (the packages name their clips by file name only). The queries (short phrases, not
the captions) and their relevant clips are in queries.csv / qrels.csv for text -> video evaluation.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

SIDE, MAX_SECONDS, MAX_FPS = 320, 10.0, 15

# package -> (licence, where the clips are); clip file name -> (id, title, description, tags)
PACKAGES = {
    "python3-imageio": ("BSD-2-Clause", "usr/lib/python3/dist-packages/imageio/resources/images"),
    "python3-mecavideo": ("CC-BY-SA-3.0 (the example videos, by Benoît Markey)", "usr/share/pymecavideo/data/video"),
    "forensics-samples-files": ("CC-BY-SA-4.0", "usr/share/forensics-samples/original-files/movie1"),
    "opencv-doc": ("Apache-2.0 AND BSD-3-Clause", "usr/share/doc/opencv-doc/examples/data"),
    "gem-doc": ("GPL-2+", "usr/share/gem/examples/data"),
    "renpy-demo": ("Expat", "usr/share/games/renpy/demo/game"),
    "python-nbsphinx-doc": ("public domain (Wikimedia Commons)", "usr/share/doc/python-nbsphinx/html/www/wikimediacommons"),
    "pd-extendedview": ("GPL-3+", "usr/share/doc/pd-extendedview/media"),
    "planetblupi-common": ("GPL-3+", "usr/share/planetblupi/movie"),
}
CLIPS = {
    "python3-imageio": {
        "cockatoo.mp4": ("cockatoo", "Cockatoo", "A white cockatoo looks into the camera.", "animals;birds"),
    },
    "python3-mecavideo": {
        "Effet_force_magnetique.ogv": ("pucks-magnet", "Two pucks", "Two round pucks move around each other on a white table.", "physics;table"),
        "Force_constante.avi": ("puck-tape", "Puck and tape", "A puck slides along a table next to a yellow measuring tape.", "physics;table"),
        "Principe_inertie.avi": ("puck-push", "Pushed puck", "A hand pushes a puck across a white table.", "physics;table"),
        "balle1-vp9.avi": ("ball-drop", "Falling ball", "A red ball falls next to a yellow pole in a science classroom.", "physics;ball"),
        "balle-jbart.mp4": ("ball-throw", "Thrown ball", "A hand throws a small yellow ball in a dark room.", "physics;ball"),
        "g1.avi": ("cyclist-man", "Cyclist", "A man rides a bicycle past a football goal.", "people;bicycle"),
        "g2.avi": ("cyclist-boy", "Young cyclist", "A boy rides a bicycle in front of a goal.", "people;bicycle"),
        "retroMars2018.avi": ("planets", "Planets", "Planets move around the sun against a black sky.", "space;planets"),
    },
    "forensics-samples-files": {
        "VID_20191220_170832.mp4": ("dog", "White dog", "A white fluffy dog lies on a tiled floor.", "animals;dog"),
    },
    "opencv-doc": {
        "tree.avi": ("tree", "Tree in the wind", "The branches of a green tree move in the wind.", "nature;tree"),
        "vtest.avi": ("walkers", "People walking", "People walk across a square beside a lawn.", "people;street"),
    },
    "gem-doc": {
        "anim-1.mov": ("teapot", "Glass teapot", "A glass teapot and a green ring, with a paper plane flying over them.", "3d;objects"),
    },
    "renpy-demo": {
        "oa4_launch.webm": ("rocket", "Rocket launch", "A rocket lifts off from its launch pad.", "space;rocket"),
    },
    "python-nbsphinx-doc": {
        "Shepard_Calais_1906_FrenchGP.ogv.160p.ogv": ("race-1906", "Motor race, 1906", "An old black and white film of a car race in 1906.", "cars;history"),
    },
    "pd-extendedview": {
        "diver.mov": ("underwater", "Underwater", "Underwater view of rocks and rising bubbles in the sea.", "nature;sea"),
    },
    "planetblupi-common": {
        "history2.mkv": ("blupi-robot", "Robot", "A blue robot on tank tracks in a dark hall.", "cartoon;robot"),
        "play101.mkv": ("blupi-spider", "Spider", "A brown spider walks out of the forest towards red berries.", "cartoon;animals"),
        "play103.mkv": ("blupi-bridge", "Bridge", "A yellow cartoon creature crosses a wooden bridge over a river.", "cartoon;river"),
        "play105.mkv": ("blupi-tower", "Stone tower", "A yellow cartoon creature walks into a round stone tower.", "cartoon;building"),
        "play107.mkv": ("blupi-lab", "Laboratory", "Glass flasks on a laboratory bench in a small shed.", "cartoon;science"),
        "play108.mkv": ("blupi-sad", "Sad in the snow", "A sad yellow cartoon creature stands in the snow by a stone wall.", "cartoon;snow"),
        "play110.mkv": ("blupi-bulldozer", "Bulldozer", "A yellow bulldozer drives through the fog.", "cartoon;vehicle"),
        "play113.mkv": ("blupi-car", "Night drive", "A yellow cartoon creature drives a small red car at night.", "cartoon;vehicle"),
        "play116.mkv": ("blupi-machine", "Sparkling machine", "A shiny blue machine sparkles.", "cartoon;machine"),
        "play118.mkv": ("blupi-suit", "Robot suit", "A yellow cartoon creature inside a silver robot suit.", "cartoon;robot"),
        "play119.mkv": ("blupi-house", "Snowy house", "A yellow cartoon creature outside a snowy house in winter.", "cartoon;snow"),
        "play124.mkv": ("blupi-monster", "Monster", "A blue spotted monster in the dark.", "cartoon;monster"),
        "win005.mkv": ("blupi-crowd", "Crowd", "A crowd of yellow cartoon creatures covered in coloured lights.", "cartoon;crowd"),
        "win129.mkv": ("blupi-planet", "Small planet", "A small planet with a house, and rockets flying in space.", "cartoon;space"),
    },
}
# Short phrases a user would type (not the captions), and the clips that answer each.
QUERIES = {
    "a bird": ["cockatoo"], "a dog": ["dog"], "riding a bicycle": ["cyclist-man", "cyclist-boy"],
    "a rocket": ["rocket", "blupi-planet"], "outer space": ["planets", "rocket", "blupi-planet"],
    "a tree": ["tree"], "people walking outside": ["walkers"], "a ball": ["ball-drop", "ball-throw"],
    "a teapot": ["teapot"], "an old car race": ["race-1906"], "under the sea": ["underwater"],
    "a robot": ["blupi-robot", "blupi-suit"], "a spider": ["blupi-spider"], "a bridge over a river": ["blupi-bridge"],
    "snow and winter": ["blupi-sad", "blupi-house"], "a bulldozer": ["blupi-bulldozer"], "driving a car": ["blupi-car"],
    "a monster": ["blupi-monster"], "laboratory glassware": ["blupi-lab"], "a puck on a table": ["pucks-magnet", "puck-tape", "puck-push"],
    "a tower": ["blupi-tower"], "a crowd": ["blupi-crowd", "walkers"],
}


def reencode(src: Path, dest: Path) -> tuple[float, bool]:
    """First MAX_SECONDS of src as a small H.264/AAC mp4; returns (seconds, has soundtrack)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dest), "w") as out:
        vin = inp.streams.video[0]
        ain = inp.streams.audio[0] if inp.streams.audio else None
        w, h = vin.codec_context.width, vin.codec_context.height
        s = min(1.0, SIDE / max(w, h))
        ow, oh = max(2, round(w * s) // 2 * 2), max(2, round(h * s) // 2 * 2)
        fps = min(MAX_FPS, round(float(vin.average_rate or 25)))
        vout = out.add_stream("libx264", rate=fps, options={"crf": "30", "preset": "veryfast"})
        vout.width, vout.height, vout.pix_fmt = ow, oh, "yuv420p"
        aout = out.add_stream("aac", rate=22050, layout="mono") if ain else None
        n, last = 0, 0.0
        for frame in inp.decode(vin):
            t = (frame.time or 0.0) - float((vin.start_time or 0) * vin.time_base)
            if t > MAX_SECONDS:
                break
            if t + 1e-6 < n / fps:  # drop frames above MAX_FPS
                continue
            img = frame.reformat(width=ow, height=oh, format="yuv420p")
            img.pts, img.time_base = n, Fraction(1, fps)
            n, last = n + 1, t
            for p in vout.encode(img):
                out.mux(p)
        for p in vout.encode():
            out.mux(p)
        if aout is not None:
            _copy_audio(inp, ain, aout, out)
    return last, aout is not None


def _copy_audio(inp, ain, aout, out) -> None:
    import av

    inp.seek(0)
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=22050)
    done = 0
    for frame in inp.decode(ain):
        for r in resampler.resample(frame):
            r.pts = done
            done += r.samples
            for p in aout.encode(r):
                out.mux(p)
        if done >= MAX_SECONDS * 22050:
            break
    for p in aout.encode():
        out.mux(p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "assets" / "video"))
    out = Path(parser.parse_args().out)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    rows, sources = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for pkg, (licence, folder) in PACKAGES.items():
            subprocess.run(["apt-get", "download", pkg], cwd=tmp_path, check=True, capture_output=True)
            deb = next(tmp_path.glob(f"{pkg}_*.deb"))
            version = deb.name.split("_")[1].replace("%3a", ":")
            root = tmp_path / pkg
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
            for name, (item_id, title, description, tags) in CLIPS[pkg].items():
                seconds, sound = reencode(root / folder / name, out / "clips" / f"{item_id}.mp4")
                rows.append([item_id, title, description, f"clips/{item_id}.mp4", tags, pkg, licence])
                sources.append(f"| {item_id} | {pkg} {version} | /{folder}/{name} | {licence} | {seconds:.1f} s"
                               f"{'' if sound else ', silent'} |")
                print(f"{item_id:16} {seconds:5.1f} s  {(out / 'clips' / f'{item_id}.mp4').stat().st_size / 1024:6.0f} KB  {pkg}")
            copyright_file = next(root.glob("usr/share/doc/*/copyright"))
            (out / "licences").mkdir(exist_ok=True)
            shutil.copyfile(copyright_file, out / "licences" / f"{pkg}.copyright")
    with open(out / "catalog.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "description", "video", "tags", "source", "licence"])
        w.writerows(rows)
    with open(out / "queries.csv", "w", newline="", encoding="utf-8") as f, \
            open(out / "qrels.csv", "w", newline="", encoding="utf-8") as g:
        q, r = csv.writer(f), csv.writer(g)
        q.writerow(["query_id", "text"])
        r.writerow(["query_id", "item_id", "relevance"])
        for k, (text, relevant) in enumerate(QUERIES.items(), start=1):
            q.writerow([f"v{k:02d}", text])
            r.writerows([f"v{k:02d}", item, 1] for item in relevant)
    (out / "SOURCES.md").write_text(
        "# Video demo clips\n\nEach clip is the first 10 s of a video shipped in a Debian package, scaled to at most "
        "320 px and re-encoded (H.264, AAC mono) by `scripts/build_video_demo.py`. Captions are written by hand from "
        "watching the clips. Each package's copyright file is in `licences/`.\n\n"
        "| id | package | file in the package | licence | length |\n|---|---|---|---|---|\n" + "\n".join(sources) + "\n",
        encoding="utf-8")
    print(f"{len(rows)} clips -> {out}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
